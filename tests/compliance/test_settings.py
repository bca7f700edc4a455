"""Compliance settings, quiet hours and caps: defaults, contradictions refused beside the field with nothing
changed, every change recorded with who and when, and the admin writing through the same services."""

from datetime import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from compliance.models import ComplianceChange, ComplianceSettings, CountryRule, FrequencyCap, QuietHours
from compliance.services import (
    compliance_settings_get,
    compliance_settings_update,
    frequency_cap_create,
    frequency_cap_delete,
    quiet_hours_create,
    quiet_hours_delete,
)

pytestmark = pytest.mark.django_db


def test_settings_are_created_with_safe_defaults_and_a_random_holdout_key(account, other_user):
    settings = compliance_settings_get(account)

    assert settings.default_purpose == "marketing"
    assert settings.opt_in_countries == ["IE"]
    assert settings.holdout_percent == 0 and settings.unsubscribe_policy == "warn"
    assert len(settings.holdout_key) == 64
    assert compliance_settings_get(other_user.account).holdout_key != settings.holdout_key
    assert compliance_settings_get(account).pk == settings.pk


def test_each_changed_setting_is_recorded_with_who_and_when(account, api_user):
    compliance_settings_update(
        account=account, user=api_user, holdout_percent="7.5", stop_code="36180", opt_in_countries="ie, fr"
    )
    compliance_settings_update(account=account, user=api_user, stop_code="36180")  # unchanged: not recorded

    settings = ComplianceSettings.objects.get(account=account)
    assert (settings.holdout_percent, settings.stop_code, settings.opt_in_countries) == (
        Decimal("7.5"),
        "36180",
        ["IE", "FR"],
    )
    changes = {change.field: change for change in ComplianceChange.objects.filter(account=account)}
    assert set(changes) == {"holdout_percent", "stop_code", "opt_in_countries"}
    assert (changes["holdout_percent"].old_value, changes["holdout_percent"].new_value) == ("0.0", "7.5")
    assert changes["opt_in_countries"].new_value == '["IE", "FR"]'
    assert all(change.changed_by == api_user and change.created_at for change in changes.values())


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"holdout_percent": "25"}, "holdout_percent", "between 0 and 20 %"),
        ({"holdout_percent": "-1"}, "holdout_percent", "between 0 and 20 %"),
        ({"holdout_percent": "abc"}, "holdout_percent", "number of percent"),
        ({"opt_in_countries": ["IE", "XX"]}, "opt_in_countries", "'XX' is not a known"),
        ({"stop_code": "36 180!"}, "stop_code", "letters and digits"),
        ({"unsubscribe_policy": "ignore"}, "unsubscribe_policy", "one of: warn, append, refuse"),
        ({"default_purpose": "promo"}, "default_purpose", "one of: marketing, transactional"),
        ({"stop_instruction": " "}, "stop_instruction", "cannot be empty"),
        ({"colour": "red"}, "colour", "not a compliance setting"),
    ],
)
def test_bad_settings_are_refused_beside_the_field_and_nothing_changes(account, api_user, changes, field, message):
    before = compliance_settings_get(account)

    with pytest.raises(ValidationError) as refused:
        compliance_settings_update(account=account, user=api_user, **{"help_text": "Call us", **changes})

    assert message in " ".join(refused.value.message_dict[field])
    after = ComplianceSettings.objects.get(account=account)
    assert (after.help_text, after.stop_code, after.holdout_percent, after.opt_in_countries) == (
        before.help_text,
        before.stop_code,
        before.holdout_percent,
        before.opt_in_countries,
    )
    assert not ComplianceChange.objects.exists()


def test_quiet_hours_are_created_and_deleted_with_history(account, api_user):
    row = quiet_hours_create(
        account=account, user=api_user, start="21:00", end="09:00", weekdays=[4, 5], countries=["fr"]
    )

    assert (row.start, row.end, row.weekdays, row.countries) == (time(21), time(9), [4, 5], ["FR"])
    assert quiet_hours_delete(account=account, user=api_user, quiet_hours_id=row.pk)
    assert not QuietHours.objects.exists()
    history = list(
        ComplianceChange.objects.filter(field="quiet_hours").order_by("id").values_list("old_value", "new_value")
    )
    assert history == [("", "no marketing 21:00-09:00 (Fri, Sat; FR)"), ("no marketing 21:00-09:00 (Fri, Sat; FR)", "")]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"start": "21:00", "end": "21:00"}, "end", "another time than they start"),
        ({"start": "25:00", "end": "09:00"}, "start", "HH:MM"),
        ({"start": "21:00", "end": "09:00", "weekdays": [7]}, "weekdays", "not a weekday"),
        ({"start": "21:00", "end": "09:00", "countries": ["ZZ"]}, "countries", "'ZZ' is not a known"),
    ],
)
def test_bad_quiet_hours_are_refused_beside_the_field(account, api_user, fields, field, message):
    with pytest.raises(ValidationError) as refused:
        quiet_hours_create(account=account, user=api_user, **fields)

    assert message in " ".join(refused.value.message_dict[field])
    assert not QuietHours.objects.exists() and not ComplianceChange.objects.exists()


def test_quiet_hours_that_leave_no_time_for_marketing_are_refused(account, api_user):
    quiet_hours_create(account=account, user=api_user, start="00:00", end="12:00")

    with pytest.raises(ValidationError) as refused:
        quiet_hours_create(account=account, user=api_user, start="11:00", end="00:00")

    assert "no time of the week is left for marketing" in refused.value.message_dict["end"][0]
    assert QuietHours.objects.count() == 1


def test_caps_are_created_and_deleted_with_history_and_a_cap_of_zero_is_refused(account, api_user):
    with pytest.raises(ValidationError) as refused:
        frequency_cap_create(account=account, user=api_user, channel="sms", max_messages=0, period_days=7)
    assert "a cap of 0 would block all marketing" in refused.value.message_dict["max_messages"][0]
    with pytest.raises(ValidationError) as refused:
        frequency_cap_create(account=account, user=api_user, channel="fax", max_messages=3, period_days=0)
    assert set(refused.value.message_dict) == {"channel", "period_days"}
    assert not FrequencyCap.objects.exists()

    cap = frequency_cap_create(account=account, user=api_user, channel="sms", max_messages=3, period_days=7)
    assert frequency_cap_delete(account=account, user=api_user, cap_id=cap.pk)
    assert not frequency_cap_delete(account=account, user=api_user, cap_id=cap.pk)
    assert list(ComplianceChange.objects.order_by("id").values_list("old_value", "new_value")) == [
        ("", "≤ 3 per 7 d on sms"),
        ("≤ 3 per 7 d on sms", ""),
    ]


def test_another_accounts_quiet_hours_cannot_be_deleted(account, api_user, other_user):
    row = quiet_hours_create(account=other_user.account, user=other_user, start="21:00", end="09:00")

    assert not quiet_hours_delete(account=account, user=api_user, quiet_hours_id=row.pk)
    assert QuietHours.objects.filter(pk=row.pk).exists()


def test_admin_settings_change_goes_through_the_service_and_is_recorded(admin_client, admin_user, account):
    settings = compliance_settings_get(account)
    url = reverse("admin:compliance_compliancesettings_change", args=[settings.pk])
    form = {
        "default_purpose": "marketing",
        "holdout_percent": "30",
        "stop_code": "",
        "opt_in_countries": '["IE"]',
        "unsubscribe_policy": "warn",
        "stop_instruction": "Reply STOP to opt out.",
        "stop_confirmation_text": "",
        "start_confirmation_text": "",
        "help_text": "",
    }

    refused = admin_client.post(url, form)
    assert refused.status_code == 200 and "between 0 and 20 %" in refused.content.decode()

    assert admin_client.post(url, {**form, "holdout_percent": "10"}).status_code == 302
    change = ComplianceChange.objects.get(field="holdout_percent")
    assert (change.new_value, change.changed_by) == ("10.0", admin_user)


def test_admin_country_rule_refuses_an_empty_window(admin_client):
    url = reverse("admin:compliance_countryrule_change", args=["FR"])
    rule = CountryRule.objects.get(country="FR")
    response = admin_client.post(
        url,
        {
            "country": "FR",
            "allowed_windows": '{"0": [["22:00", "08:00"]]}',
            "stop_footer": rule.stop_footer,
            "notes": rule.notes,
        },
    )

    assert response.status_code == 200 and "is empty" in response.content.decode()
    assert CountryRule.objects.get(country="FR").allowed_windows == rule.allowed_windows
