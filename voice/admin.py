from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import URLField

from voice.errors import VoiceError
from voice.models import AccountVoicePrice, CallerId, Keypress, MenuAction, VoiceMenu, VoiceMenuOption, VoicePrice
from voice.selectors import voice_menu_definition
from voice.services import voice_menu_clean


@admin.register(VoicePrice)
class VoicePriceAdmin(admin.ModelAdmin):
    """Price per started minute of an answered call. Bulk changes: `manage.py import_voice_prices`."""

    list_display = ["country_iso", "country_name", "price_per_minute", "currency", "updated_at"]
    list_editable = ["price_per_minute"]
    search_fields = ["country_iso", "country_name"]
    list_filter = ["currency"]


@admin.register(AccountVoicePrice)
class AccountVoicePriceAdmin(admin.ModelAdmin):
    list_display = ["account", "country_iso", "price_per_minute", "updated_at"]
    search_fields = ["account__name", "country_iso"]
    autocomplete_fields = ["account"]
    list_select_related = ["account"]


@admin.register(CallerId)
class CallerIdAdmin(admin.ModelAdmin):
    list_display = ["account", "country_iso", "number", "created_at"]
    search_fields = ["account__name", "number", "country_iso"]
    list_filter = ["country_iso"]
    autocomplete_fields = ["account"]
    list_select_related = ["account"]


class VoiceMenuOptionFormSet(forms.BaseInlineFormSet):
    """Validates the whole node with voice_menu_clean (the rule every writer of menus shares)."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        # The admin applies the menu form to `instance` (save(commit=False)) before the inlines
        # are validated, so the node's own fields are read from it.
        menu = self.instance
        options = []
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            item = {key: form.cleaned_data.get(key) for key in ("key", "action", "transfer_prefix", "transfer_number")}
            if item["action"] == MenuAction.SUBMENU:
                submenu = form.cleaned_data.get("submenu")
                item["menu"] = voice_menu_definition(menu=submenu) if submenu else {}
            options.append(item)
        definition: dict[str, Any] = {
            "speech_type": menu.speech_type,
            "text": menu.text,
            "language": menu.language,
            "gender": menu.gender,
            "audio_url": menu.audio_url,
            "speech_retries": menu.speech_retries,
            "speech_timeout_seconds": menu.speech_timeout_seconds,
            "options": options,
        }
        try:
            voice_menu_clean(definition=definition, depth=2 if menu.parent_id else 1)
        except VoiceError as exc:
            raise forms.ValidationError(f"{exc.detail} ({exc.field}, code {exc.code})") from exc


class VoiceMenuOptionInline(admin.TabularInline):
    model = VoiceMenuOption
    fk_name = "menu"
    formset = VoiceMenuOptionFormSet
    extra = 1
    autocomplete_fields = ["submenu"]


@admin.register(VoiceMenu)
class VoiceMenuAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "speech_type", "language", "gender", "parent", "updated_at"]
    list_filter = ["speech_type", "language"]
    search_fields = ["name", "account__name", "text"]
    autocomplete_fields = ["account", "parent"]
    list_select_related = ["account", "parent"]
    inlines = [VoiceMenuOptionInline]
    formfield_overrides = {URLField: {"assume_scheme": "https"}}


@admin.register(Keypress)
class KeypressAdmin(admin.ModelAdmin):
    """Read-only: keys are recorded from calls."""

    list_display = ["pressed_at", "recipient", "key", "menu", "sending", "account"]
    search_fields = ["recipient", "account__name"]
    list_filter = ["key"]
    list_select_related = ["account", "menu"]
    raw_id_fields = ["message", "sending", "menu", "account"]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
