"""Operators' view of compliance: account settings, quiet hours and caps (written through the services, so
each change is validated and recorded with who and when), the country rules (data, editable, validated),
and read-only lists of touches and of the change history.

The consent models (ContactConsent, ConsentEvent) are registered by the consent module's owner."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from compliance import services
from compliance.models import ComplianceChange, ComplianceSettings, ContactTouch, CountryRule, FrequencyCap, QuietHours

_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _raise_on_form(form: forms.ModelForm, error: ValidationError) -> None:
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class ComplianceSettingsForm(forms.ModelForm):
    class Meta:
        model = ComplianceSettings
        fields = ["account", *services.SETTINGS_FIELDS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for field in services.SETTINGS_FIELDS:
            if field in cleaned:
                try:
                    cleaned[field] = services.compliance_setting_clean(field, cleaned[field])
                except ValidationError as error:
                    _raise_on_form(self, error)
        return cleaned


@admin.register(ComplianceSettings)
class ComplianceSettingsAdmin(admin.ModelAdmin):
    form = ComplianceSettingsForm
    list_display = ["account", "default_purpose", "holdout_percent", "stop_code", "unsubscribe_policy", "updated_at"]
    list_filter = ["default_purpose", "unsubscribe_policy"]
    search_fields = ["account__name"]
    list_select_related = ["account"]
    readonly_fields = ["holdout_key", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ComplianceSettings | None = None) -> list[str]:
        return [*self.readonly_fields, "account"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: ComplianceSettings, form: forms.ModelForm, change: bool) -> None:
        account = obj.account
        values = {field: form.cleaned_data[field] for field in services.SETTINGS_FIELDS if field in form.cleaned_data}
        saved = services.compliance_settings_update(account=account, user=request.user, **values)
        obj.pk = saved.pk


class QuietHoursForm(forms.ModelForm):
    class Meta:
        model = QuietHours
        fields = ["account", "start", "end", "weekdays", "countries"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            cleaned.update(
                services.quiet_hours_clean(
                    account=cleaned["account"],
                    start=cleaned.get("start"),
                    end=cleaned.get("end"),
                    weekdays=cleaned.get("weekdays"),
                    countries=cleaned.get("countries"),
                )
            )
        except ValidationError as error:
            _raise_on_form(self, error)
        return cleaned


class _AddOrDeleteAdmin(admin.ModelAdmin):
    """Rows made and removed through the services (validated, recorded); changed by delete + add."""

    list_select_related = ["account"]
    search_fields = ["account__name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        # One by one through delete_model, so each removal is recorded.
        for row in queryset:
            self.delete_model(request, row)


@admin.register(QuietHours)
class QuietHoursAdmin(_AddOrDeleteAdmin):
    form = QuietHoursForm
    list_display = ["account", "start", "end", "weekdays", "countries", "created_at"]

    def save_model(self, request: HttpRequest, obj: QuietHours, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        row = services.quiet_hours_create(
            account=data["account"],
            user=request.user,
            start=data["start"],
            end=data["end"],
            weekdays=data["weekdays"],
            countries=data["countries"],
        )
        obj.pk = row.pk

    def delete_model(self, request: HttpRequest, obj: QuietHours) -> None:
        services.quiet_hours_delete(account=obj.account, user=request.user, quiet_hours_id=obj.pk)


class FrequencyCapForm(forms.ModelForm):
    class Meta:
        model = FrequencyCap
        fields = ["account", "channel", "max_messages", "period_days"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            cleaned.update(
                services.frequency_cap_clean(
                    channel=cleaned.get("channel"),
                    max_messages=cleaned.get("max_messages"),
                    period_days=cleaned.get("period_days"),
                )
            )
        except ValidationError as error:
            _raise_on_form(self, error)
        return cleaned


@admin.register(FrequencyCap)
class FrequencyCapAdmin(_AddOrDeleteAdmin):
    form = FrequencyCapForm
    list_display = ["account", "channel", "max_messages", "period_days", "created_at"]

    def save_model(self, request: HttpRequest, obj: FrequencyCap, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        cap = services.frequency_cap_create(
            account=data["account"],
            user=request.user,
            channel=data["channel"],
            max_messages=data["max_messages"],
            period_days=data["period_days"],
        )
        obj.pk = cap.pk

    def delete_model(self, request: HttpRequest, obj: FrequencyCap) -> None:
        services.frequency_cap_delete(account=obj.account, user=request.user, cap_id=obj.pk)


def allowed_windows_validate(raw: Any) -> None:
    """CountryRule.allowed_windows: {"0".."6": [["HH:MM", "HH:MM"], …]} with each window's start before its end."""
    if not isinstance(raw, dict):
        raise ValidationError('Windows per weekday, e.g. {"0": [["08:00", "22:00"]]} (0 = Monday).')
    for day, spans in raw.items():
        if day not in {str(number) for number in range(7)}:
            raise ValidationError(f'{day!r} is not a weekday: use "0" (Monday) to "6" (Sunday).')
        if not isinstance(spans, list) or not spans:
            raise ValidationError(f"Weekday {day}: give a list of [from, to] windows (omit the day to forbid it).")
        for span in spans:
            if not (
                isinstance(span, list) and len(span) == 2 and all(isinstance(v, str) and _CLOCK.match(v) for v in span)
            ):
                raise ValidationError(f'Weekday {day}: each window is ["HH:MM", "HH:MM"].')
            if span[0] >= span[1]:
                raise ValidationError(
                    f"Weekday {day}: the window {span[0]}-{span[1]} is empty (from must be before to)."
                )


class CountryRuleForm(forms.ModelForm):
    class Meta:
        model = CountryRule
        fields = [
            "country",
            "allowed_windows",
            "no_public_holidays",
            "opt_in_required",
            "stop_footer",
            "public_shorteners_refused",
            "notes",
        ]

    def clean_country(self) -> str:
        return services.countries_clean([self.cleaned_data["country"]], field="country")[0]

    def clean_allowed_windows(self) -> Any:
        raw = self.cleaned_data["allowed_windows"]
        allowed_windows_validate(raw)
        return raw

    def clean_stop_footer(self) -> str:
        footer = self.cleaned_data["stop_footer"]
        if footer and "{code}" not in footer:
            raise ValidationError("The footer must contain {code}, replaced by the account's STOP code.")
        return footer


@admin.register(CountryRule)
class CountryRuleAdmin(admin.ModelAdmin):
    form = CountryRuleForm
    list_display = ["country", "no_public_holidays", "opt_in_required", "stop_footer", "public_shorteners_refused"]
    search_fields = ["country", "notes"]


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ContactTouch)
class ContactTouchAdmin(_ReadOnlyAdmin):
    list_display = ["contact_id", "account_id", "channel", "day", "count"]
    list_filter = ["channel"]


@admin.register(ComplianceChange)
class ComplianceChangeAdmin(_ReadOnlyAdmin):
    list_display = ["created_at", "account", "field", "old_value", "new_value", "changed_by"]
    list_filter = ["field"]
    search_fields = ["account__name", "field"]
    list_select_related = ["account", "changed_by"]


from compliance import consent_admin  # noqa: E402, F401 - the consent models register themselves there
