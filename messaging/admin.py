"""Admin for the sending engine: messages and events are a ledger (read-only here), webhooks and
notifications can be retried, provider routes are edited without ever showing credentials back.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from messaging.models import (
    Event,
    InboundWebhook,
    Message,
    Notification,
    NotificationAttempt,
    ProviderRoute,
)
from messaging.notifications import notifications_retry
from messaging.providers import PROVIDERS
from messaging.services import providers_for_channel
from messaging.webhooks import inbound_webhooks_retry

# Settings keys holding credentials (matched case-insensitively anywhere in the key).
SECRET_KEY_MARKERS = ("token", "password", "secret", "key", "auth", "credential", "api_user")
MASK = "********"


def _is_secret(key: str) -> bool:
    return any(marker in key.lower() for marker in SECRET_KEY_MARKERS)


def _mask_value(value: Any) -> str:
    text = str(value)
    # The last characters help tell two credentials apart without revealing them.
    return MASK + text[-4:] if len(text) >= 16 else MASK


def provider_settings_masked(settings: Any) -> Any:
    """The route settings with every credential replaced by a mask (nested dicts included)."""
    if not isinstance(settings, dict):
        return settings
    return {
        key: _mask_value(value) if _is_secret(key) and value not in ("", None) else provider_settings_masked(value)
        for key, value in settings.items()
    }


def provider_settings_merge(submitted: Any, stored: Any) -> Any:
    """Submitted settings where a credential still shows its mask keep the stored credential."""
    if not isinstance(submitted, dict) or not isinstance(stored, dict):
        return submitted
    merged = {}
    for key, value in submitted.items():
        old = stored.get(key)
        if _is_secret(key) and isinstance(value, str) and value.startswith(MASK) and old not in ("", None):
            merged[key] = old if value == _mask_value(old) else value
        else:
            merged[key] = provider_settings_merge(value, old)
    return merged


class ProviderRouteForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=[(name, name) for name in sorted(PROVIDERS)])
    settings = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text="JSON. Credentials are shown masked; leave a mask as it is to keep the stored value.",
    )

    class Meta:
        model = ProviderRoute
        fields = ["account", "channel", "provider", "settings"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["settings"] = provider_settings_masked(self.instance.settings)

    def clean_settings(self) -> dict:
        value = self.cleaned_data.get("settings") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Settings must be a JSON object.")
        return provider_settings_merge(value, self.instance.settings if self.instance.pk else {})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        channel, provider = cleaned.get("channel"), cleaned.get("provider")
        if channel and provider and provider not in providers_for_channel(channel):
            self.add_error("provider", f"{provider} does not carry {channel} messages.")
        return cleaned


@admin.register(ProviderRoute)
class ProviderRouteAdmin(admin.ModelAdmin):
    form = ProviderRouteForm
    list_display = ["__str__", "account", "channel", "provider", "masked_settings", "updated_at"]
    list_filter = ["channel", "provider"]
    list_select_related = ["account"]
    search_fields = ["account__name", "provider"]
    autocomplete_fields = ["account"]

    @admin.display(description="Settings")
    def masked_settings(self, route: ProviderRoute) -> str:
        return str(provider_settings_masked(route.settings))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledger rows are written by services only; the admin shows them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EventInline(admin.TabularInline):
    model = Event
    fields = ["type", "date", "provider", "provider_event_id", "extra", "url"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["date", "id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "account",
        "sending",
        "channel",
        "recipient",
        "status",
        "provider",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "channel", "provider", "created_at"]
    list_select_related = ["account", "sending"]
    search_fields = ["public_id__exact", "recipient__exact", "provider_message_id__exact", "account__name"]
    autocomplete_fields = ["account", "sending"]
    raw_id_fields = ["contact"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [EventInline]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "message", "account", "sending", "date", "provider"]
    list_filter = ["type", "provider", "date"]
    list_select_related = ["message", "account", "sending"]
    search_fields = ["message__public_id__exact", "provider_event_id__exact", "account__name"]
    autocomplete_fields = ["account", "sending"]
    raw_id_fields = ["message"]
    date_hierarchy = "date"
    show_full_result_count = False


class ProcessedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Pending"), ("processed", "Processed"), ("failed", "Failed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "pending":
            return queryset.filter(processed_at__isnull=True, error="")
        if self.value() == "processed":
            return queryset.filter(processed_at__isnull=False)
        if self.value() == "failed":
            return queryset.filter(processed_at__isnull=True).exclude(error="")
        return queryset


@admin.register(InboundWebhook)
class InboundWebhookAdmin(ReadOnlyAdmin):
    list_display = ["id", "provider", "received_at", "processed_at", "short_error", "size"]
    list_filter = [ProcessedFilter, "provider", "received_at"]
    search_fields = ["id__exact", "error"]
    fields = ["provider", "received_at", "content_type", "processed_at", "error", "body_text"]
    readonly_fields = fields
    date_hierarchy = "received_at"
    show_full_result_count = False
    actions = ["retry"]

    @admin.display(description="Error")
    def short_error(self, webhook: InboundWebhook) -> str:
        return webhook.error[:80]

    @admin.display(description="Bytes")
    def size(self, webhook: InboundWebhook) -> int:
        return len(webhook.body or b"")

    @admin.display(description="Body")
    def body_text(self, webhook: InboundWebhook) -> str:
        text = bytes(webhook.body).decode("utf-8", "replace")
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text[:20000])

    @admin.action(description="Process again (clears the error)")
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = inbound_webhooks_retry(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} webhook(s) queued for processing again.", messages.SUCCESS)


class NotificationAttemptInline(admin.TabularInline):
    model = NotificationAttempt
    fields = ["number", "attempted_at", "response_status", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "kind", "event_type", "url", "status", "attempts", "due_at", "updated_at"]
    list_filter = ["status", "kind", "created_at"]
    list_select_related = ["account", "event"]
    search_fields = ["url", "account__name", "event__message__public_id__exact"]
    autocomplete_fields = ["account"]
    raw_id_fields = ["event"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [NotificationAttemptInline]
    actions = ["retry"]

    @admin.display(description="Event", ordering="event__type")
    def event_type(self, notification: Notification) -> str:
        return notification.event.type

    @admin.action(description="Deliver again now")
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = notifications_retry(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} notification(s) queued for delivery.", messages.SUCCESS)
