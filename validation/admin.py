"""Admin for email validation jobs and the accounts' reuse records.

Jobs are created through the API (validation.services); operators watch them, see why each address
got its result, queue a stuck job again, and delete jobs through the same service as the API (a
running job's hold goes back to the balance).
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from validation.models import EmailValidation, EmailValidationItem, ValidationStatus, VerifiedEmail
from validation.services import email_validation_delete, email_validation_enqueue

READ_ONLY_JOB_FIELDS = (
    "account",
    "status",
    "force",
    "allow_risky",
    "notification_url",
    "group_ids",
    "total",
    "processed",
    "valid",
    "checked",
    "price",
    "currency",
    "estimated_cost",
    "cost",
    "reserved",
    "error",
    "notification_error",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
)


@admin.register(EmailValidation)
class EmailValidationAdmin(admin.ModelAdmin):
    list_display = ("id", "account", "status", "total", "processed", "valid", "cost", "currency", "created_at")
    list_filter = ("status",)
    search_fields = ("account__name",)
    list_select_related = ("account",)
    readonly_fields = READ_ONLY_JOB_FIELDS
    fields = READ_ONLY_JOB_FIELDS
    actions = ("queue_again",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: EmailValidation | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: EmailValidation) -> None:
        email_validation_delete(validation=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[EmailValidation]) -> None:
        for validation in queryset:
            email_validation_delete(validation=validation)

    @admin.action(description="Queue the selected pending or started validations again")
    def queue_again(self, request: HttpRequest, queryset: QuerySet[EmailValidation]) -> None:
        running = [ValidationStatus.PENDING, ValidationStatus.STARTED]
        ids = list(queryset.filter(status__in=running).values_list("pk", flat=True))
        for validation_id in ids:
            email_validation_enqueue(validation_id=validation_id)
        self.message_user(request, f"{len(ids)} validation(s) queued.", messages.SUCCESS)


@admin.register(EmailValidationItem)
class EmailValidationItemAdmin(admin.ModelAdmin):
    list_display = ("email", "result", "reason", "reused", "validation")
    list_filter = ("result", "reason", "reused")
    search_fields = ("=email", "=validation__id")
    raw_id_fields = ("validation",)
    readonly_fields = ("validation", "email", "result", "reason", "reused")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: EmailValidationItem | None = None) -> bool:
        return False


@admin.register(VerifiedEmail)
class VerifiedEmailAdmin(admin.ModelAdmin):
    """Deleting a record makes the next job check that address again."""

    list_display = ("email", "result", "reason", "account", "checked_at")
    list_filter = ("result", "reason")
    search_fields = ("=email", "account__name")
    list_select_related = ("account",)
    readonly_fields = ("account", "email", "result", "reason", "checked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: VerifiedEmail | None = None) -> bool:
        return False
