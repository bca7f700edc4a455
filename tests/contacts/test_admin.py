import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from contacts import importing
from contacts.admin import STAGED_SESSION_KEY
from contacts.models import (
    BlacklistEntry,
    Contact,
    ContactImport,
    CustomField,
    Group,
    ImportStatus,
    Membership,
)
from contacts.tasks import run_contact_import

CHANGELIST = "admin:contacts_contact_changelist"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def contacts(account):
    return [
        Contact.objects.create(account=account, phone="34666555444", email="ana@example.com", country_iso="ES"),
        Contact.objects.create(account=account, phone="34611222333", landline="34912345678", country_iso="ES"),
        Contact.objects.create(account=account, email="=cmd@example.com"),
    ]


def action(client, name, contacts, follow=False):
    data = {"action": name, "_selected_action": [c.pk for c in contacts], "index": 0}
    return client.post(reverse(CHANGELIST), data, follow=follow)


# ---------------------------------------------------------------------------------------------
# Changelist and change form


def test_contact_changelist_lists_contacts_with_a_bounded_number_of_queries(
    admin_client, account, other_user, django_assert_max_num_queries
):
    for index in range(30):
        Contact.objects.create(account=account if index % 2 else other_user.account, email=f"c{index}@example.com")
    with django_assert_max_num_queries(20):
        response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert "c29@example.com" in response.text
    assert reverse("admin:contacts_contact_import") in response.text


def test_contact_changelist_filters_and_search(admin_client, contacts):
    response = admin_client.get(reverse(CHANGELIST), {"has": "landline"})
    assert list(response.context["cl"].result_list) == [contacts[1]]
    response = admin_client.get(reverse(CHANGELIST), {"q": "ana@"})
    assert list(response.context["cl"].result_list) == [contacts[0]]


def test_contact_change_form_saves_through_the_service_and_normalises(admin_client, contacts):
    contact = contacts[0]
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(
        url,
        {
            "email": "ANA@Example.com",
            "phone": "+34 622 333 444",
            "landline": "",
            "country_iso": "es",
            "name": "Ana",
            "surname": "",
            "external_id": "",
            "membership_set-TOTAL_FORMS": "0",
            "membership_set-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.email, contact.phone, contact.country_iso, contact.name) == (
        "ana@example.com",
        "34622333444",
        "ES",
        "Ana",
    )


def test_contact_change_form_shows_the_service_error_and_changes_nothing(admin_client, contacts):
    contact = contacts[0]
    response = admin_client.post(
        reverse("admin:contacts_contact_change", args=[contact.pk]),
        {
            "email": "",
            "phone": "611222333",
            "landline": "",
            "country_iso": "ES",
            "membership_set-TOTAL_FORMS": "0",
            "membership_set-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "The phone has already been taken." in response.text
    contact.refresh_from_db()
    assert contact.phone == "34666555444"


def test_contact_add_form_creates_a_contact_with_a_membership(admin_client, account):
    group = Group.objects.create(account=account, name="VIP")
    response = admin_client.post(
        reverse("admin:contacts_contact_add"),
        {
            "account": account.pk,
            "email": "New@Example.com",
            "phone": "",
            "landline": "",
            "country_iso": "",
            "name": "New",
            "membership_set-TOTAL_FORMS": "1",
            "membership_set-INITIAL_FORMS": "0",
            "membership_set-0-group": group.pk,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    contact = Contact.objects.get(account=account, email="new@example.com")
    assert list(contact.groups.all()) == [group]


def test_membership_inline_refuses_a_group_of_another_account(admin_client, contacts, other_user):
    foreign = Group.objects.create(account=other_user.account, name="Theirs")
    contact = contacts[2]
    response = admin_client.post(
        reverse("admin:contacts_contact_change", args=[contact.pk]),
        {
            "email": "cmd@example.com",
            "membership_set-TOTAL_FORMS": "1",
            "membership_set-INITIAL_FORMS": "0",
            "membership_set-0-group": foreign.pk,
        },
    )

    assert response.status_code == 200
    assert "Choose a group of the contact&#x27;s account." in response.text
    assert not Membership.objects.exists()


# ---------------------------------------------------------------------------------------------
# Other models


def test_group_admin_creates_and_refuses_a_duplicate_name(admin_client, account):
    Group.objects.create(account=account, name="Existing")
    assert admin_client.get(reverse("admin:contacts_group_changelist")).status_code == 200
    response = admin_client.post(reverse("admin:contacts_group_add"), {"account": account.pk, "name": " Fresh "})
    assert response.status_code == 302
    assert Group.objects.filter(account=account, name="Fresh").exists()

    response = admin_client.post(reverse("admin:contacts_group_add"), {"account": account.pk, "name": "Existing"})
    assert response.status_code == 200
    assert Group.objects.filter(account=account, name="Existing").count() == 1


def test_custom_field_admin_validates_the_key_and_locks_it_after_creation(admin_client, account):
    response = admin_client.post(
        reverse("admin:contacts_customfield_add"), {"account": account.pk, "key": "bad key", "type": "string"}
    )
    assert response.status_code == 200
    assert not CustomField.objects.exists()

    response = admin_client.post(
        reverse("admin:contacts_customfield_add"), {"account": account.pk, "key": "birthday", "type": "date"}
    )
    assert response.status_code == 302
    field = CustomField.objects.get()
    response = admin_client.get(reverse("admin:contacts_customfield_change", args=[field.pk]))
    assert response.status_code == 200
    assert 'name="type"' not in response.text


def test_blacklist_admin_normalises_the_recipient(admin_client, account):
    assert admin_client.get(reverse("admin:contacts_blacklistentry_changelist")).status_code == 200
    response = admin_client.post(
        reverse("admin:contacts_blacklistentry_add"),
        {"account": account.pk, "type": "sms", "recipient": "+34 666 555 444"},
    )
    assert response.status_code == 302
    assert BlacklistEntry.objects.get().recipient == "34666555444"

    response = admin_client.post(
        reverse("admin:contacts_blacklistentry_add"), {"account": account.pk, "type": "mailing", "recipient": "nope"}
    )
    assert response.status_code == 200
    assert "The recipient must be a valid email address." in response.text


# ---------------------------------------------------------------------------------------------
# Bulk actions


def test_add_to_group_action_asks_for_a_group_then_adds_the_contacts(admin_client, contacts, account):
    group = Group.objects.create(account=account, name="Picked")
    Group.objects.create(account=account, name="Other")

    page = action(admin_client, "add_to_group", contacts[:2])
    assert page.status_code == 200
    assert "Picked" in page.text and "Other" in page.text

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "add_to_group", "_selected_action": [c.pk for c in contacts[:2]], "apply": "1", "group": group.pk},
    )
    assert response.status_code == 302
    assert set(group.contacts.all()) == set(contacts[:2])


def test_add_to_group_action_refuses_contacts_of_several_accounts(admin_client, contacts, other_user):
    theirs = Contact.objects.create(account=other_user.account, email="x@example.com")
    response = action(admin_client, "add_to_group", [contacts[0], theirs], follow=True)

    assert "Select contacts of a single account" in response.text
    assert not Membership.objects.exists()


def test_add_to_group_action_refuses_a_group_of_another_account(admin_client, contacts, other_user):
    foreign = Group.objects.create(account=other_user.account, name="Theirs")
    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "add_to_group", "_selected_action": [contacts[0].pk], "apply": "1", "group": foreign.pk},
    )

    assert response.status_code == 200
    assert "Choose a group of this account." in response.text
    assert not Membership.objects.exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("blacklist_sms", {("sms", "34666555444"), ("sms", "34611222333")}),
        ("blacklist_mailing", {("mailing", "ana@example.com"), ("mailing", "=cmd@example.com")}),
        ("blacklist_voice", {("voice", "34666555444"), ("voice", "34611222333"), ("voice", "34912345678")}),
    ],
)
def test_blacklist_actions_list_the_selected_contacts_recipients(admin_client, contacts, account, name, expected):
    response = action(admin_client, name, contacts, follow=True)

    assert response.status_code == 200
    assert set(BlacklistEntry.objects.filter(account=account).values_list("type", "recipient")) == expected
    assert "blacklist" in response.text


def test_export_actions_download_the_selected_contacts(admin_client, contacts):
    response = action(admin_client, "export_csv", contacts[:2])
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["id", "email", "phone"]
    assert [row[2] for row in rows[1:]] == ["34666555444", "34611222333"]

    response = action(admin_client, "export_xlsx", contacts)
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    values = list(workbook.active.iter_rows(values_only=True))
    assert len(values) == 4
    assert values[3][1] == "=cmd@example.com"


# ---------------------------------------------------------------------------------------------
# Import flow


def test_import_flow_upload_mapping_start_status_and_errors_download(
    admin_client, account, monkeypatch, django_capture_on_commit_callbacks
):
    group = Group.objects.create(account=account, name="Fair")
    queued = []
    monkeypatch.setattr(importing, "async_task", lambda name, *args: queued.append((name, *args)))

    upload_url = reverse("admin:contacts_contact_import")
    assert admin_client.get(upload_url).status_code == 200
    upload = SimpleUploadedFile(
        "fair.csv", b"Mobile;email;Colour\n666555444;a@example.com;red\nbad;;\n", content_type="text/csv"
    )
    response = admin_client.post(upload_url, {"account": account.pk, "file": upload, "default_country_iso": ""})
    assert response.status_code == 302
    assert response.url == reverse("admin:contacts_contact_import_mapping")

    page = admin_client.get(response.url)
    assert page.status_code == 200
    form = page.context["form"]
    assert [field.label for field in form.column_fields()] == ["Mobile", "email", "Colour"]
    assert [field.initial for field in form.column_fields()] == ["phone", "email", ""]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            response.url,
            {"column_0": "phone", "column_1": "email", "column_2": "custom:colour:string", "groups": [group.pk]},
        )
    contact_import = ContactImport.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:contacts_contactimport_status", args=[contact_import.pk])
    assert queued == [("contacts.tasks.run_contact_import", contact_import.pk)]
    assert contact_import.default_country_iso == "ES"  # the account's country
    assert STAGED_SESSION_KEY not in admin_client.session

    status = admin_client.get(response.url)
    assert status.status_code == 200
    assert "pending" in status.text

    run_contact_import(contact_import.pk)

    status = admin_client.get(response.url)
    assert "finished" in status.text
    assert reverse("admin:contacts_contactimport_errors_csv", args=[contact_import.pk]) in status.text
    data = admin_client.get(reverse("admin:contacts_contactimport_status_json", args=[contact_import.pk])).json()
    assert data == {
        "status": "finished",
        "total_rows": 2,
        "processed_rows": 2,
        "created_count": 1,
        "updated_count": 0,
        "error_count": 1,
        "fatal_error": "",
        "percent": 100,
        "done": True,
    }
    contact = Contact.objects.get(account=account)
    assert (contact.phone, contact.custom_fields, list(contact.groups.all())) == (
        "34666555444",
        {"colour": "red"},
        [group],
    )
    errors = admin_client.get(reverse("admin:contacts_contactimport_errors_csv", args=[contact_import.pk]))
    text = b"".join(errors.streaming_content).decode("utf-8-sig")
    assert text.splitlines() == [
        "row,error,Mobile,email,Colour",
        '3,"Column ""Mobile"" (phone): must be a valid phone number.",bad,,',
    ]


def test_import_upload_refuses_a_bad_file_and_keeps_nothing(admin_client, account, tmp_path):
    response = admin_client.post(
        reverse("admin:contacts_contact_import"),
        {"account": account.pk, "file": SimpleUploadedFile("people.pdf", b"%PDF"), "default_country_iso": "ES"},
    )

    assert response.status_code == 200
    assert "Only CSV (.csv) and Excel (.xlsx) files can be imported." in response.text
    assert STAGED_SESSION_KEY not in admin_client.session
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*.*"))


def test_import_mapping_without_an_identifier_shows_the_error(admin_client, account):
    upload = SimpleUploadedFile("p.csv", b"Name,Mobile\nAna,666555444\n")
    admin_client.post(reverse("admin:contacts_contact_import"), {"account": account.pk, "file": upload})
    response = admin_client.post(reverse("admin:contacts_contact_import_mapping"), {"column_0": "name", "column_1": ""})

    assert response.status_code == 200
    assert "Map at least one column to email, phone or landline." in response.text
    assert not ContactImport.objects.exists()


def test_import_mapping_without_an_upload_goes_back_to_the_upload_page(admin_client):
    response = admin_client.get(reverse("admin:contacts_contact_import_mapping"))
    assert response.status_code == 302
    assert response.url == reverse("admin:contacts_contact_import")


def test_account_autocomplete_on_the_upload_page_answers(admin_client, account):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "contacts", "model_name": "contactimport", "field_name": "account", "term": "AC"},
    )
    assert response.status_code == 200
    assert [item["text"] for item in response.json()["results"]] == ["ACME"]


def test_contact_import_admin_pages_are_read_only_with_the_row_errors(admin_client, account):
    contact_import = importing.contact_import_create(
        account=account,
        created_by=None,
        uploaded_file=SimpleUploadedFile("x.csv", b"Phone\n12\n666555444\n"),
        mapping={"Phone": "phone"},
        group_ids=[],
        default_country_iso="ES",
    )
    importing.contact_import_run(contact_import=contact_import)
    assert contact_import.status == ImportStatus.FINISHED

    changelist = admin_client.get(reverse("admin:contacts_contactimport_changelist"))
    assert changelist.status_code == 200
    assert "x.csv" in changelist.text
    change = admin_client.get(reverse("admin:contacts_contactimport_change", args=[contact_import.pk]))
    assert change.status_code == 200
    assert "must be a valid phone number" in change.text
    assert 'name="status"' not in change.text
    assert admin_client.get(reverse("admin:contacts_contactimport_add")).status_code == 403


def test_import_pages_need_staff_permissions(client, account, django_user_model):
    user = django_user_model.objects.create_user(username="staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:contacts_contact_import")).status_code == 403
