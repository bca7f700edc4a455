"""Consent per contact and channel: the set-based service, its history, and every source that writes it
(staff page, admin, import, unsubscribe page) and reads it (contact page, history CSV)."""

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from compliance.consent import (
    ConsentChange,
    ConsentInvalid,
    consent_history,
    consent_of,
    consent_set,
    consent_status_parse,
    consents_set,
)
from compliance.models import ConsentEvent, ContactConsent
from contacts.importing import ImportMappingInvalid, contact_import_create, contact_import_run
from contacts.models import Contact, ContactImportError
from tests.contacts.test_import import csv_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(account) -> Contact:
    return Contact.objects.create(account=account, phone="34666555444", email="ana@example.com", name="Ana")


@pytest.fixture
def web(api_user: User) -> Client:
    client = Client()
    client.force_login(api_user)
    return client


def statuses(contact: Contact) -> dict[str, str]:
    return {channel: state.status for channel, state in consent_of(contact=contact).items()}


# ---------------------------------------------------------------------------------------------
# The service


def test_consent_set_records_state_and_one_history_row_per_changed_contact(account, ana, api_user):
    bob = Contact.objects.create(account=account, phone="34666555333")
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    changed = consent_set(
        account=account, contact_ids=[ana.pk, bob.pk], channel="sms", status="opted_in", source="staff", at=at,
        user=api_user, note="asked at the counter",
    )  # fmt: skip

    assert sorted(changed) == sorted([ana.pk, bob.pk])
    assert consent_of(contact=ana)["sms"] == ("opted_in", "staff", at)
    [event] = consent_history(contact=ana)
    assert (event.channel, event.status, event.source, event.note) == (
        "sms",
        "opted_in",
        "staff",
        "asked at the counter",
    )
    assert (event.created_by, event.created_at) == (api_user, at)


def test_setting_the_status_a_contact_already_has_records_nothing(account, ana):
    consent_set(account=account, contact_ids=[ana.pk], channel="sms", status="opted_out", source="keyword")
    assert consent_set(account=account, contact_ids=[ana.pk], channel="sms", status="opted_out", source="api") == []
    assert ConsentEvent.objects.count() == 1
    assert consent_of(contact=ana)["sms"].source == "keyword"


def test_unknown_on_a_contact_without_consent_changes_nothing_but_resets_a_recorded_one(account, ana):
    assert consent_set(account=account, contact_ids=[ana.pk], channel="voice", status="unknown", source="staff") == []
    assert not ContactConsent.objects.exists()
    consent_set(account=account, contact_ids=[ana.pk], channel="voice", status="opted_in", source="staff")
    assert consent_set(account=account, contact_ids=[ana.pk], channel="voice", status="unknown", source="staff") == [
        ana.pk
    ]
    assert statuses(ana)["voice"] == "unknown"
    assert [e.status for e in consent_history(contact=ana)] == ["unknown", "opted_in"]


def test_history_is_append_only_and_newest_first(account, ana):
    for status in ("opted_in", "opted_out", "opted_in"):
        consent_set(account=account, contact_ids=[ana.pk], channel="mailing", status=status, source="staff")
    assert [e.status for e in consent_history(contact=ana)] == ["opted_in", "opted_out", "opted_in"]
    assert statuses(ana) == {"sms": "unknown", "mailing": "opted_in", "voice": "unknown", "whatsapp": "unknown"}


def test_contacts_of_another_account_are_ignored(account, other_user, ana):
    theirs = Contact.objects.create(account=other_user.account, phone="34666555444")
    changed = consent_set(account=account, contact_ids=[ana.pk, theirs.pk], channel="sms", status="opted_in",
                          source="staff")  # fmt: skip
    assert changed == [ana.pk]
    assert statuses(theirs)["sms"] == "unknown"
    assert not ConsentEvent.objects.filter(contact=theirs).exists()


def test_a_call_is_set_based_whatever_the_number_of_contacts(account, django_assert_max_num_queries):
    ids = [Contact.objects.create(account=account, phone=f"3466600{index:04d}").pk for index in range(300)]
    with django_assert_max_num_queries(5):  # savepoint, upsert, history INSERT, release
        changed = consent_set(account=account, contact_ids=ids, channel="sms", status="opted_in", source="import")
    assert len(changed) == 300
    assert ConsentEvent.objects.count() == 300


def test_consents_set_mixes_channels_and_statuses_and_the_last_change_of_a_key_wins(account, ana):
    made = consents_set(
        account=account,
        changes=[
            ConsentChange(ana.pk, "sms", "opted_in"),
            ConsentChange(ana.pk, "mailing", "opted_out"),
            ConsentChange(ana.pk, "sms", "opted_out"),
        ],
        source="import",
    )
    assert sorted((c.channel, c.status) for c in made) == [("mailing", "opted_out"), ("sms", "opted_out")]
    assert statuses(ana)["sms"] == "opted_out"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [("channel", {"channel": "fax"}), ("status", {"status": "maybe"}), ("source", {"source": "rumour"})],
)
def test_bad_channel_status_or_source_is_refused_and_changes_nothing(account, ana, field, kwargs):
    arguments = {"channel": "sms", "status": "opted_in", "source": "staff", **kwargs}
    with pytest.raises(ConsentInvalid) as raised:
        consent_set(account=account, contact_ids=[ana.pk], **arguments)
    assert raised.value.field == field
    assert not ContactConsent.objects.exists() and not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    ("raw", "status"),
    [("opted_in", "opted_in"), ("YES", "opted_in"), (" 1 ", "opted_in"), ("True", "opted_in"),
     ("opted_out", "opted_out"), ("no", "opted_out"), ("0", "opted_out"), ("unknown", "unknown")],
)  # fmt: skip
def test_consent_values_read_from_cells(raw, status):
    assert consent_status_parse(raw) == status


# ---------------------------------------------------------------------------------------------
# Staff page


def test_contact_page_shows_consent_per_channel_and_the_history(web, account, ana):
    consent_set(account=account, contact_ids=[ana.pk], channel="sms", status="opted_out", source="keyword",
                note="SMS reply STOP")  # fmt: skip
    page = web.get(f"/contacts/{ana.pk}/").content.decode()
    assert '<th scope="row">SMS</th><td>Opted out</td><td>Keyword reply</td>' in page
    assert '<th scope="row">WhatsApp</th><td>Unknown</td><td>—</td>' in page
    assert "SMS reply STOP" in page
    assert f'href="/contacts/{ana.pk}/consent.csv"' in page


def test_staff_set_a_channels_consent_from_the_contact_page(web, account, ana, api_user):
    response = web.post(f"/contacts/{ana.pk}/consent/", {"channel": "mailing", "status": "opted_in", "note": "call"})
    assert response.status_code == 302 and response["Location"] == f"/contacts/{ana.pk}/"
    [event] = consent_history(contact=ana)
    assert (event.channel, event.status, event.source, event.created_by, event.note) == (
        "mailing", "opted_in", "staff", api_user, "call",
    )  # fmt: skip


def test_a_bad_consent_form_shows_the_error_beside_the_field_and_changes_nothing(web, ana):
    response = web.post(f"/contacts/{ana.pk}/consent/", {"channel": "fax", "status": "opted_in"})
    assert response.status_code == 400
    text = response.content.decode()
    channel_field = text[text.index('<label for="id_channel">') :]
    assert channel_field.index("Select a valid choice") < channel_field.index('<label for="id_status">')
    assert not ConsentEvent.objects.exists()


def test_another_accounts_contact_consent_is_404(web, other_user):
    theirs = Contact.objects.create(account=other_user.account, phone="34666555444")
    assert web.post(f"/contacts/{theirs.pk}/consent/", {"channel": "sms", "status": "opted_in"}).status_code == 404
    assert web.get(f"/contacts/{theirs.pk}/consent.csv").status_code == 404
    assert not ConsentEvent.objects.exists()


def test_consent_history_downloads_as_csv(web, account, ana, api_user):
    consent_set(account=account, contact_ids=[ana.pk], channel="sms", status="opted_in", source="import",
                at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC), note="=cmd")  # fmt: skip
    consent_set(account=account, contact_ids=[ana.pk], channel="sms", status="opted_out", source="staff",
                at=datetime(2026, 2, 3, 4, 5, tzinfo=UTC), user=api_user)  # fmt: skip
    response = web.get(f"/contacts/{ana.pk}/consent.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="consent-history-{ana.pk}.csv"'
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows == [
        ["date", "channel", "status", "source", "note", "by"],
        ["2026-02-03T04:05:00+00:00", "sms", "opted_out", "Staff edit", "", api_user.get_username()],
        ["2026-01-02T03:04:00+00:00", "sms", "opted_in", "Import column", "'=cmd", ""],
    ]


# ---------------------------------------------------------------------------------------------
# Admin


def test_admin_sets_consent_through_the_service_and_shows_the_history_read_only(admin_client, account, ana):
    response = admin_client.post(
        reverse("admin:compliance_contactconsent_add"), {"contact": ana.pk, "channel": "sms", "status": "opted_in"}
    )
    assert response.status_code == 302
    [event] = consent_history(contact=ana)
    assert (event.status, event.source, event.note) == ("opted_in", "admin", "Set in the admin")
    assert admin_client.get(reverse("admin:compliance_consentevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:compliance_consentevent_add")).status_code == 403
    assert admin_client.post(reverse("admin:compliance_consentevent_delete", args=[event.pk])).status_code == 403
    consent = ContactConsent.objects.get()
    assert admin_client.post(reverse("admin:compliance_contactconsent_delete", args=[consent.pk])).status_code == 403


# ---------------------------------------------------------------------------------------------
# Import


@pytest.fixture
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def run_import(account, text, mapping, user=None):
    contact_import = contact_import_create(
        account=account, created_by=user, uploaded_file=csv_upload(text), mapping=mapping, group_ids=[],
        default_country_iso="ES",
    )  # fmt: skip
    contact_import_run(contact_import=contact_import)
    contact_import.refresh_from_db()
    return contact_import


@pytest.mark.usefixtures("_media_root")
def test_import_sets_consent_per_channel_with_source_import_and_a_row_error_for_bad_values(account, ana, api_user):
    mapping = {"Phone": "phone", "SMS": "consent_sms", "Mail": "consent_mailing", "WA": "consent_whatsapp"}
    done = run_import(
        account,
        "Phone,SMS,Mail,WA\n"
        "666555444,yes,opted_out,\n"  # Ana, matched by phone
        "611222333,0,1,OPTED_IN\n"  # a new contact
        "622333444,perhaps,yes,\n",  # row error: nothing of this row is imported
        mapping,
        user=api_user,
    )
    assert (done.created_count, done.updated_count, done.error_count) == (1, 1, 1)
    assert statuses(ana) == {"sms": "opted_in", "mailing": "opted_out", "voice": "unknown", "whatsapp": "unknown"}
    new = Contact.objects.get(account=account, phone="34611222333")
    assert statuses(new) == {"sms": "opted_out", "mailing": "opted_in", "voice": "unknown", "whatsapp": "opted_in"}
    assert {(e.source, e.created_by) for e in ConsentEvent.objects.all()} == {("import", api_user)}
    assert ConsentEvent.objects.count() == 5
    [error] = ContactImportError.objects.all()
    assert error.row_number == 4
    assert error.message.startswith('Column "SMS" (consent_sms): "perhaps" is not a consent value')
    assert not Contact.objects.filter(phone="34622333444").exists()


@pytest.mark.usefixtures("_media_root")
def test_reimporting_the_same_consent_records_no_new_history(account, ana):
    mapping = {"Phone": "phone", "SMS": "consent_sms"}
    run_import(account, "Phone,SMS\n666555444,opted_in\n", mapping)
    run_import(account, "Phone,SMS\n666555444,opted_in\n", mapping)
    assert ConsentEvent.objects.count() == 1


@pytest.mark.usefixtures("_media_root")
def test_an_unknown_consent_target_is_a_mapping_error_naming_the_consent_targets(account):
    with pytest.raises(ImportMappingInvalid, match="consent_sms, consent_mailing, consent_voice, consent_whatsapp"):
        contact_import_create(
            account=account, created_by=None, uploaded_file=csv_upload("Phone,SMS\n666555444,yes\n"),
            mapping={"Phone": "phone", "SMS": "consent_fax"}, group_ids=[],
        )  # fmt: skip


def test_the_import_mapping_page_offers_and_guesses_the_consent_columns(account):
    from contacts.admin import ImportMappingForm

    form = ImportMappingForm(headers=["phone", "consent_sms"], account=account)
    field = form.fields["column_1"]
    assert ("consent_whatsapp", "consent_whatsapp") in field.choices
    assert field.initial == "consent_sms"


# ---------------------------------------------------------------------------------------------
# Unsubscribe page


def test_the_unsubscribe_page_also_opts_the_contact_out_of_the_channel(client, account, settings):
    from campaigns.fanout import unsubscribe_url
    from tests.tracking.conftest import path_of, sms_message

    settings.PUBLIC_URL = "https://go.example.org"
    message = sms_message(account)
    assert client.post(path_of(unsubscribe_url(message.public_id))).status_code == 200
    contact = Contact.objects.get(pk=message.contact_id)
    assert consent_of(contact=contact)["sms"].status == "opted_out"
    [event] = consent_history(contact=contact)
    assert (event.source, event.note) == ("unsubscribe", f"Unsubscribe page of message {message.public_id}")
    client.post(path_of(unsubscribe_url(message.public_id)))  # a repeat records nothing more
    assert ConsentEvent.objects.count() == 1
