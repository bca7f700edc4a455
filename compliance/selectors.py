"""Reads of compliance data for the staff pages."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Account
from compliance.models import ComplianceChange

CHANGES_SHOWN = 50


def compliance_changes_recent(*, account: Account, limit: int = CHANGES_SHOWN) -> QuerySet[ComplianceChange]:
    return (
        ComplianceChange.objects.filter(account=account)
        .select_related("changed_by")
        .order_by("-created_at", "-id")[:limit]
    )
