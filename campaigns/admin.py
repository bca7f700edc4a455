from django.contrib import admin
from django.http import HttpRequest

from campaigns.models import AccountSmsPrice, Campaign, FanoutChunk, Sending, SmsNetwork, SmsPrice


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "type", "created_at"]
    list_filter = ["type", "created_at"]
    list_select_related = ["account"]
    search_fields = ["name", "account__name"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"


@admin.register(Sending)
class SendingAdmin(admin.ModelAdmin):
    """View-only: sendings are created by send requests and their status and counters are kept by
    the sending engine, which an edit here would contradict."""

    list_display = ["id", "account", "campaign", "channel", "status", "total", "processed", "cost", "created_at"]
    list_filter = ["channel", "status", "created_at"]
    list_select_related = ["account", "campaign"]
    # `id__exact` compares the id as text, so a non-numeric search term finds nothing instead of failing.
    search_fields = ["id__exact", "campaign__name", "account__name"]
    autocomplete_fields = ["account", "campaign"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Sending | None = None) -> bool:
        return False


@admin.register(SmsPrice)
class SmsPriceAdmin(admin.ModelAdmin):
    """A country's price (its "Default" network in the coverage). Bulk changes: `manage.py import_sms_prices`."""

    list_display = ["country_iso", "country_name", "mcc", "cost", "currency", "updated_at"]
    list_editable = ["cost"]
    search_fields = ["country_iso", "country_name", "mcc"]
    list_filter = ["currency"]
    ordering = ["country_iso"]


@admin.register(SmsNetwork)
class SmsNetworkAdmin(admin.ModelAdmin):
    """A mobile network; an empty cost means its country's price."""

    list_display = ["country_iso", "mcc", "mnc", "name", "cost", "updated_at"]
    list_editable = ["cost"]
    search_fields = ["country_iso", "name", "mcc"]
    ordering = ["country_iso", "mcc", "mnc"]


@admin.register(AccountSmsPrice)
class AccountSmsPriceAdmin(admin.ModelAdmin):
    list_display = ["account", "country_iso", "cost", "updated_at"]
    search_fields = ["account__name", "country_iso"]
    list_filter = ["account"]
    autocomplete_fields = ["account"]
    list_select_related = ["account"]


@admin.register(FanoutChunk)
class FanoutChunkAdmin(admin.ModelAdmin):
    """Read-only: chunks are the fan-out's own bookkeeping (idempotence markers)."""

    list_display = ["id", "sending", "after_contact_id", "last_contact_id", "status", "messages", "skipped"]
    list_filter = ["status"]
    search_fields = ["sending__id"]
    list_select_related = ["sending"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: FanoutChunk | None = None) -> bool:
        return False
