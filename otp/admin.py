"""Admin for one-time codes: read-only (codes are made and checked only through otp.services),
never showing the code's hash."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from otp.models import OtpCode, OtpStatus


class OtpStateFilter(admin.SimpleListFilter):
    """The state a check would see: pending codes split by clock and attempts."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("live", "Pending (checkable)"),
            ("expired", "Expired"),
            ("exhausted", "Maximum attempts reached"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        pending = queryset.filter(status=OtpStatus.PENDING)
        if self.value() == "live":
            return pending.filter(expires_at__gte=now, attempts__lt=F("max_attempts"))
        if self.value() == "expired":
            return pending.filter(expires_at__lt=now, attempts__lt=F("max_attempts"))
        if self.value() == "exhausted":
            return pending.filter(attempts__gte=F("max_attempts"))
        return queryset


@admin.register(OtpCode)
class OtpCodeAdmin(admin.ModelAdmin):
    list_display = [
        "recipient",
        "app_id",
        "account",
        "state",
        "attempts",
        "max_attempts",
        "source",
        "created_at",
        "expires_at",
    ]
    list_filter = [OtpStateFilter, "status", "source", "alpha", "created_at", "account"]
    search_fields = ["recipient", "app_id", "account__name"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"
    fields = [
        "account",
        "recipient",
        "app_id",
        "state",
        "status",
        "source",
        "alpha",
        "length",
        "attempts",
        "max_attempts",
        "max_seconds_validity",
        "created_at",
        "updated_at",
        "expires_at",
        "verified_at",
    ]
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, otp: OtpCode) -> str:
        return otp.state(timezone.now())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OtpCode | None = None) -> bool:
        return False
