"""Settings → Compliance: the staff page edits the account's settings, quiet hours and caps through the
services, shows errors beside the fields with nothing changed, and lists the change history."""

import pytest

from compliance.models import ComplianceChange, ComplianceSettings, FrequencyCap, QuietHours
from compliance.services import compliance_settings_get, quiet_hours_create
from tests.contacts.test_web_accessibility import unlabelled

pytestmark = pytest.mark.django_db

SETTINGS_FORM = {
    "default_purpose": "marketing",
    "holdout_percent": "10",
    "stop_code": "36180",
    "opt_in_countries": "IE, fr",
    "unsubscribe_policy": "append",
    "stop_instruction": "Reply STOP to opt out.",
    "stop_confirmation_text": "You will not receive more messages.",
    "start_confirmation_text": "",
    "help_text": "Call 900 000 000",
}


@pytest.fixture
def web(client, api_user):
    client.force_login(api_user)
    return client


def test_the_page_shows_the_defaults_and_is_in_the_settings_nav(web):
    body = web.get("/settings/compliance/").content.decode()

    assert 'aria-current="page">Compliance</a>' in body
    assert 'value="IE"' in body and "No quiet hours of your own" in body and "No changes yet." in body


def test_saving_the_settings_records_each_change_in_the_history(web, account, api_user):
    response = web.post("/settings/compliance/", SETTINGS_FORM)

    assert response.status_code == 302
    settings = ComplianceSettings.objects.get(account=account)
    assert (settings.stop_code, settings.opt_in_countries, settings.unsubscribe_policy) == (
        "36180",
        ["IE", "FR"],
        "append",
    )
    body = web.get("/settings/compliance/").content.decode()
    assert "holdout_percent" in body and "acme" in body and "36180" in body
    assert ComplianceChange.objects.filter(account=account, changed_by=api_user).count() == 6


def test_a_holdout_over_20_percent_is_refused_beside_the_field_and_nothing_changes(web, account):
    compliance_settings_get(account)

    response = web.post(
        "/settings/compliance/", {**SETTINGS_FORM, "holdout_percent": "25", "opt_in_countries": "IE, XX"}
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_holdout_percent_error">The holdout share must be between 0 and 20 %.' in body
    assert "&#x27;XX&#x27; is not a known two-letter country code." in body
    settings = ComplianceSettings.objects.get(account=account)
    assert (settings.holdout_percent, settings.stop_code) == (0, "")
    assert not ComplianceChange.objects.exists()


def test_quiet_hours_are_added_and_removed_on_the_page(web, account):
    response = web.post(
        "/settings/compliance/quiet-hours/", {"start": "21:00", "end": "09:00", "weekdays": ["4", "5"], "countries": ""}
    )
    assert response.status_code == 302
    row = QuietHours.objects.get(account=account)
    assert row.weekdays == [4, 5]
    assert "no marketing 21:00-09:00 (Fri, Sat; every country)" in web.get("/settings/compliance/").content.decode()

    assert web.post(f"/settings/compliance/quiet-hours/{row.pk}/remove/").status_code == 302
    assert not QuietHours.objects.exists()


def test_an_empty_quiet_hours_window_is_refused_beside_the_field(web):
    response = web.post("/settings/compliance/quiet-hours/", {"start": "21:00", "end": "21:00"})

    assert 'id="id_end_error">The quiet hours must end at another time than they start.' in response.content.decode()
    assert not QuietHours.objects.exists()


def test_caps_are_added_and_a_cap_of_zero_is_refused(web, account):
    refused = web.post("/settings/compliance/caps/", {"channel": "sms", "max_messages": "0", "period_days": "7"})
    assert "a cap of 0 would block all marketing" in refused.content.decode()
    assert not FrequencyCap.objects.exists()

    assert (
        web.post("/settings/compliance/caps/", {"channel": "", "max_messages": "1", "period_days": "1"}).status_code
        == 302
    )
    cap = FrequencyCap.objects.get(account=account)
    assert "≤ 1 per 1 d on any channel" in web.get("/settings/compliance/").content.decode()
    assert web.post(f"/settings/compliance/caps/{cap.pk}/remove/").status_code == 302
    assert not FrequencyCap.objects.exists()


def test_another_accounts_quiet_hours_cannot_be_removed_from_the_page(web, other_user):
    row = quiet_hours_create(account=other_user.account, user=other_user, start="21:00", end="09:00")

    web.post(f"/settings/compliance/quiet-hours/{row.pk}/remove/")

    assert QuietHours.objects.filter(pk=row.pk).exists()


def test_every_control_of_the_compliance_page_is_labelled_and_ids_are_unique(web, account):
    quiet_hours_create(account=account, user=None, start="21:00", end="09:00")

    assert unlabelled(web.get("/settings/compliance/").content.decode()) == []
