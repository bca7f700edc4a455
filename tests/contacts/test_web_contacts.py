"""Staff web pages of contacts: search, contact page, create / edit / delete with errors beside the
field, groups, blacklists per channel, import (upload, mapping, progress, row errors) and export,
all scoped to the signed-in user's account."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import User
from contacts import importing
from contacts.models import BlacklistEntry, Contact, ContactImport, CustomField, Group, Membership
from contacts.tasks import run_contact_import
from tests.campaigns.conftest import post_sms

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(api_user: User) -> Client:
    client = Client()
    client.force_login(api_user)
    return client


@pytest.fixture
def other_web(other_user: User) -> Client:
    client = Client()
    client.force_login(other_user)
    return client


@pytest.fixture
def ana(account) -> Contact:
    group = Group.objects.create(account=account, name="VIP")
    CustomField.objects.create(account=account, key="plan", type="string")
    contact = Contact.objects.create(
        account=account, phone="34666555444", email="ana@example.com", name="Ana", custom_fields={"plan": "gold"}
    )
    Membership.objects.create(contact=contact, group=group)
    return contact


def test_pages_need_sign_in(client):
    for url in ("/contacts/", "/contacts/groups/", "/contacts/blacklists/sms/", "/contacts/import/"):
        assert client.get(url)["Location"].startswith("/login/")


def test_list_searches_by_email_phone_name_and_group(web, account, ana):
    Contact.objects.create(account=account, phone="34666555333", name="Bob")
    assert "Bob" not in web.get("/contacts/", {"q": "ANA@example.com"}).content.decode()
    assert "Ana" in web.get("/contacts/", {"q": "+34 666 555 444"}).content.decode()
    assert "Ana" in web.get("/contacts/", {"q": "666555444"}).content.decode()  # national, account country ES
    by_name = web.get("/contacts/", {"q": "bo"}).content.decode()
    assert "Bob" in by_name and "ana@example.com" not in by_name
    by_group = web.get("/contacts/", {"group": ana.groups.get().pk}).content.decode()
    assert "Ana" in by_group and "Bob" not in by_group


def test_an_invalid_country_filter_is_shown_beside_the_field(web, ana):
    page = web.get("/contacts/", {"country": "XX"}).content.decode()
    assert "The selected countryIso is invalid." in page


def test_list_is_paged_by_id(web, account):
    Contact.objects.bulk_create(
        [Contact(account=account, email=f"user{number:03d}@example.com") for number in range(60)]
    )
    first = web.get("/contacts/").content.decode()
    assert "user000@example.com" in first and "user050@example.com" not in first
    after = Contact.objects.get(email="user049@example.com").pk
    second = web.get("/contacts/", {"after": after}).content.decode()
    assert "user050@example.com" in second and "user049@example.com" not in second


def test_another_accounts_contacts_are_invisible(other_web, ana):
    assert "Ana" not in other_web.get("/contacts/").content.decode()
    assert other_web.get(f"/contacts/{ana.pk}/").status_code == 404
    assert other_web.get(f"/contacts/{ana.pk}/edit/").status_code == 404
    assert other_web.post(f"/contacts/{ana.pk}/delete/").status_code == 404
    assert Contact.objects.filter(pk=ana.pk).exists()


def test_contact_page_shows_custom_fields_groups_and_message_history(web, api_client, ana):
    post_sms(api_client, to=["34666555444"], message="Hello {name}", campaignName="Spring", **{"from": "ACME"})
    page = web.get(f"/contacts/{ana.pk}/").content.decode()
    assert "plan" in page and "gold" in page
    assert "VIP" in page
    assert "Spring" in page and "Hello Ana" in page


def test_create_contact_through_the_service(web, account):
    group = Group.objects.create(account=account, name="News")
    response = web.post(
        "/contacts/new/",
        {
            "phone": "666 555 444",
            "country_iso": "ES",
            "name": "Eva",
            "groups": [group.pk],
            "new_field_key": "city",
            "new_field_value": "Madrid",
        },
    )
    contact = Contact.objects.get(account=account, name="Eva")
    assert response["Location"] == f"/contacts/{contact.pk}/"
    assert contact.phone == "34666555444"
    assert contact.custom_fields == {"city": "Madrid"}
    assert list(contact.groups.values_list("name", flat=True)) == ["News"]


def test_create_errors_appear_beside_the_field_with_the_input_kept(web, account, ana):
    response = web.post("/contacts/new/", {"email": "ana@example.com", "name": "Copy"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "The email has already been taken." in page
    assert 'value="Copy"' in page
    assert Contact.objects.filter(account=account).count() == 1


def test_edit_updates_fields_custom_fields_and_groups(web, account, ana):
    response = web.post(
        f"/contacts/{ana.pk}/edit/",
        {
            "email": "ana@example.com",
            "phone": "34666555444",
            "country_iso": "ES",
            "name": "Ana María",
            "custom_plan": "silver",
        },
    )
    assert response.status_code == 302
    ana.refresh_from_db()
    assert ana.name == "Ana María"
    assert ana.custom_fields == {"plan": "silver"}
    assert not ana.groups.exists()  # no box ticked: the membership is replaced by none


def test_edit_form_offers_the_account_country_for_a_contact_without_one(web, ana):
    assert 'name="country_iso" value="ES"' in web.get(f"/contacts/{ana.pk}/edit/").content.decode()


def test_delete_contact(web, ana):
    web.post(f"/contacts/{ana.pk}/delete/")
    assert not Contact.objects.filter(pk=ana.pk).exists()


def test_groups_create_rename_delete(web, account):
    web.post("/contacts/groups/", {"name": "Leads"})
    group = Group.objects.get(account=account, name="Leads")
    duplicate = web.post("/contacts/groups/", {"name": "Leads"}).content.decode()
    assert "The name has already been taken." in duplicate
    web.post(f"/contacts/groups/{group.pk}/", {"name": "Hot leads", "action": "rename"})
    group.refresh_from_db()
    assert group.name == "Hot leads"
    web.post(f"/contacts/groups/{group.pk}/", {"action": "delete"})
    assert not Group.objects.filter(pk=group.pk).exists()


def test_group_list_shows_member_counts(web, ana):
    page = web.get("/contacts/groups/").content.decode()
    assert "VIP" in page and '<td class="num">1</td>' in page


def test_another_accounts_group_cannot_be_changed(other_web, ana):
    group = ana.groups.get()
    assert other_web.post(f"/contacts/groups/{group.pk}/", {"action": "delete"}).status_code == 404
    assert Group.objects.filter(pk=group.pk).exists()


def test_blacklist_add_list_and_remove_per_channel(web, account):
    web.post("/contacts/blacklists/sms/", {"recipient": "+34 666 555 444"}, follow=True)
    web.post("/contacts/blacklists/mailing/", {"recipient": "Eve@Example.com"}, follow=True)
    assert BlacklistEntry.objects.get(account=account, type="sms").recipient == "34666555444"
    assert "eve@example.com" not in web.get("/contacts/blacklists/sms/").content.decode()
    assert "eve@example.com" in web.get("/contacts/blacklists/mailing/").content.decode()
    web.post("/contacts/blacklists/sms/remove/", {"recipient": "34666555444"})
    assert not BlacklistEntry.objects.filter(account=account, type="sms").exists()


def test_blacklist_refuses_an_invalid_recipient_beside_the_field(web, account):
    page = web.post("/contacts/blacklists/mailing/", {"recipient": "not-an-email"}).content.decode()
    assert "The recipient must be a valid email address." in page
    assert not BlacklistEntry.objects.exists()
    assert web.get("/contacts/blacklists/fax/").status_code == 404


CSV_FILE = "Phone,E-mail,First name,Plan\n666555444,ana@example.com,Ana,gold\nnot-a-phone,,Bad,\n"


def upload(web, content: str = CSV_FILE, name: str = "people.csv"):
    return web.post("/contacts/import/", {"file": SimpleUploadedFile(name, content.encode(), "text/csv")})


def test_import_upload_map_run_and_download_errors(web, account, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(importing, "async_task", lambda name, *args: run_contact_import(*args))
    assert upload(web)["Location"] == "/contacts/import/mapping/"
    mapping_page = web.get("/contacts/import/mapping/").content.decode()
    assert "E-mail" in mapping_page and '<option value="email" selected>' in mapping_page
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(
            "/contacts/import/mapping/",
            {
                "column_0": "phone",
                "column_1": "email",
                "column_2": "name",
                "column_3": "custom:plan:string",
                "new_group": "Imported",
            },
        )
    contact_import = ContactImport.objects.get(account=account)
    assert response["Location"] == f"/contacts/imports/{contact_import.pk}/"
    contact = Contact.objects.get(account=account)
    assert (contact.phone, contact.email, contact.custom_fields) == ("34666555444", "ana@example.com", {"plan": "gold"})
    assert list(contact.groups.values_list("name", flat=True)) == ["Imported"]
    progress = web.get(f"/contacts/imports/{contact_import.pk}/status.json").json()
    assert progress["done"] and progress["percent"] == 100 and progress["error_count"] == 1
    status_page = web.get(f"/contacts/imports/{contact_import.pk}/").content.decode()
    assert "<progress" in status_page and "Row errors" in status_page
    errors = web.get(f"/contacts/imports/{contact_import.pk}/errors.csv")
    rows = list(csv.reader(io.StringIO(b"".join(errors.streaming_content).decode().lstrip("\ufeff"))))
    assert rows[0][:2] == ["row", "error"] and rows[1][0] == "3"


def test_an_xlsx_upload_is_mapped_and_imported_like_a_csv(
    web, account, monkeypatch, django_capture_on_commit_callbacks
):
    from tests.contacts.test_import import xlsx_upload

    monkeypatch.setattr(importing, "async_task", lambda name, *args: run_contact_import(*args))
    response = web.post("/contacts/import/", {"file": xlsx_upload([["Mobile", "Name"], [666555444, "Ana"]])})
    assert response["Location"] == "/contacts/import/mapping/"
    mapping_page = web.get("/contacts/import/mapping/").content.decode()
    assert "Mobile" in mapping_page and "Name" in mapping_page
    with django_capture_on_commit_callbacks(execute=True):
        web.post("/contacts/import/mapping/", {"column_0": "phone", "column_1": "name"})
    contact = Contact.objects.get(account=account)
    assert (contact.phone, contact.name) == ("34666555444", "Ana")


def test_import_rejects_an_unreadable_file_beside_the_field(web):
    page = upload(web, content="\x00\x01binary", name="people.pdf").content.decode()
    assert 'class="error"' in page
    assert not ContactImport.objects.exists()


def test_import_mapping_without_identifier_is_refused_and_nothing_is_queued(web, account):
    upload(web)
    page = web.post("/contacts/import/mapping/", {"column_2": "name"}).content.decode()
    assert "Map at least one column to email, phone or landline." in page
    assert not ContactImport.objects.exists()


def test_another_accounts_import_is_invisible(other_web, web, account, monkeypatch):
    monkeypatch.setattr(importing, "async_task", lambda name, *args: None)
    upload(web)
    web.post("/contacts/import/mapping/", {"column_0": "phone"})
    contact_import = ContactImport.objects.get(account=account)
    assert other_web.get(f"/contacts/imports/{contact_import.pk}/").status_code == 404
    assert other_web.get(f"/contacts/imports/{contact_import.pk}/errors.csv").status_code == 404


def test_export_follows_the_search_and_escapes_formulas(web, account, ana):
    Contact.objects.create(account=account, email="bob@example.com", name="=cmd()")
    response = web.get("/contacts/export/", {"q": "cmd", "format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "email", "phone"]
    assert len(rows) == 2 and rows[1][1] == "bob@example.com" and rows[1][5] == "'=cmd()"
    xlsx = web.get("/contacts/export/", {"format": "xlsx"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


def test_list_pages_back_with_the_before_cursor(web, account):
    Contact.objects.bulk_create(
        [Contact(account=account, email=f"user{number:03d}@example.com") for number in range(120)]
    )
    ids = list(Contact.objects.filter(account=account).order_by("id").values_list("id", flat=True))
    back = web.get("/contacts/", {"before": ids[100]}).content.decode()
    assert "user050@example.com" in back and "user099@example.com" in back
    assert "user049@example.com" not in back and "user100@example.com" not in back
    assert 'rel="prev"' in back and 'rel="next"' in back
    first = web.get("/contacts/", {"before": ids[50]}).content.decode()
    assert 'rel="prev"' not in first and "user000@example.com" in first
