"""Reads of compliance data for the staff pages."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Account
from compliance.models import ComplianceChange, ComplianceSettings
from compliance.protocol import Purpose

CHANGES_SHOWN = 50


def compliance_changes_recent(*, account: Account, limit: int = CHANGES_SHOWN) -> QuerySet[ComplianceChange]:
    return (
        ComplianceChange.objects.filter(account=account)
        .select_related("changed_by")
        .order_by("-created_at", "-id")[:limit]
    )


def default_purpose(*, account_id: int) -> str:
    """The purpose of the account's sends that do not say theirs (set by operators in the admin and by
    staff in Settings; marketing, the safe choice for compliance, when the account has no settings)."""
    purpose = ComplianceSettings.objects.filter(account_id=account_id).values_list("default_purpose", flat=True).first()
    return purpose or Purpose.MARKETING
