import csv
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.http import FileResponse, StreamingHttpResponse
from openpyxl import load_workbook

from compliance.consent import consent_set
from contacts.exporting import BASE_COLUMNS, CONSENT_COLUMNS, contacts_export_response, csv_safe
from contacts.importing import contact_import_create, contact_import_run
from contacts.models import Contact, CustomField, Group, ImportStatus, Membership


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def exported(account, other_user):
    """Contacts of one account with groups and typed custom fields, plus another account's contact."""
    CustomField.objects.create(account=account, key="birthday", type="date")
    CustomField.objects.create(account=account, key="spent", type="decimal")
    CustomField.objects.create(account=account, key="note", type="string")
    CustomField.objects.create(account=other_user.account, key="theirs", type="string")
    vip = Group.objects.create(account=account, name="VIP")
    news = Group.objects.create(account=account, name="News")
    first = Contact.objects.create(
        account=account,
        email="ana@example.com",
        phone="34666555444",
        landline="34912345678",
        country_iso="ES",
        name="Ana",
        surname="García",
        external_id="EXT-1",
        custom_fields={"birthday": "1990-05-01", "spent": "-12.50", "note": "=SUM(A1:A9)"},
    )
    second = Contact.objects.create(
        account=account, phone="33612345678", country_iso="FR", name="@admin", custom_fields={"note": "+plain"}
    )
    consent_set(account=account, contact_ids=[first.pk], channel="sms", status="opted_in", source="import")
    consent_set(account=account, contact_ids=[first.pk], channel="mailing", status="opted_out", source="staff")
    Membership.objects.create(contact=first, group=vip)
    Membership.objects.create(contact=first, group=news)
    Membership.objects.create(contact=second, group=news)
    Contact.objects.create(account=other_user.account, email="other@example.com")
    return account, [first, second]


def csv_rows(response: StreamingHttpResponse) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def xlsx_rows(response: FileResponse) -> list[tuple]:
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return list(workbook.active.iter_rows(values_only=True))


def test_csv_export_has_the_columns_groups_and_custom_fields_of_the_account(exported):
    account, (first, second) = exported
    response = contacts_export_response(queryset=Contact.objects.filter(account=account), file_format="csv")

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    rows = csv_rows(response)
    assert rows[0] == [*BASE_COLUMNS, "birthday", "note", "spent", *CONSENT_COLUMNS]
    assert rows[1] == [
        str(first.id),
        "ana@example.com",
        "34666555444",
        "34912345678",
        "ES",
        "Ana",
        "García",
        "EXT-1",
        "VIP|News",
        "1990-05-01",
        "'=SUM(A1:A9)",
        "'-12.50",
        "opted_in",
        "opted_out",
        "",
        "",
    ]
    assert rows[2] == [
        str(second.id), "", "33612345678", "", "FR", "'@admin", "", "", "News", "", "'+plain", "", "", "", "", "",
    ]  # fmt: skip
    assert len(rows) == 3


@pytest.mark.parametrize(
    ("value", "escaped"),
    [("=1+1", "'=1+1"), ("+34", "'+34"), ("-2", "'-2"), ("@x", "'@x"), ("\tx", "'\tx"), ("a=b", "a=b"), ("", "")],
)
def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_quoted(value, escaped):
    assert csv_safe(value) == escaped


def test_xlsx_export_writes_every_value_as_text_never_as_a_formula(exported):
    account, (first, _) = exported
    response = contacts_export_response(queryset=Contact.objects.filter(account=account), file_format="xlsx")

    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = xlsx_rows(response)
    assert rows[0] == (*BASE_COLUMNS, "birthday", "note", "spent", *CONSENT_COLUMNS)
    assert rows[1] == (
        first.id,
        "ana@example.com",
        "34666555444",
        "34912345678",
        "ES",
        "Ana",
        "García",
        "EXT-1",
        "VIP|News",
        "1990-05-01",
        "=SUM(A1:A9)",
        "-12.50",
        "opted_in",
        "opted_out",
        None,
        None,
    )
    workbook = load_workbook(
        io.BytesIO(
            b"".join(
                contacts_export_response(
                    queryset=Contact.objects.filter(account=account), file_format="xlsx"
                ).streaming_content
            )
        )
    )
    assert workbook.active["K2"].data_type == "s"


def test_export_reads_groups_without_a_query_per_contact(account, django_assert_max_num_queries):
    group = Group.objects.create(account=account, name="G")
    for index in range(120):
        Membership.objects.create(contact=Contact.objects.create(account=account, email=f"c{index}@x.com"), group=group)
    response = contacts_export_response(queryset=Contact.objects.filter(account=account), file_format="csv")
    with django_assert_max_num_queries(4):
        rows = csv_rows(response)

    assert len(rows) == 121
    assert {row[8] for row in rows[1:]} == {"G"}


def test_export_refuses_an_unknown_format(account):
    with pytest.raises(ValueError, match="Unknown export format"):
        contacts_export_response(queryset=Contact.objects.all(), file_format="pdf")


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_an_exported_file_imports_back_into_the_same_contacts(exported, other_user, file_format):
    account, _ = exported
    response = contacts_export_response(queryset=Contact.objects.filter(account=account), file_format=file_format)
    content = b"".join(response.streaming_content)
    target = other_user.account
    mapping = {
        "email": "email",
        "phone": "phone",
        "landline": "landline",
        "countryIso": "countryIso",
        "name": "name",
        "surname": "surname",
        "externalId": "externalId",
        "birthday": "custom:birthday:date",
        "spent": "custom:spent:decimal",
        "note": "custom:note",
    }
    contact_import = contact_import_create(
        account=target,
        created_by=None,
        uploaded_file=SimpleUploadedFile(f"export.{file_format}", content),
        mapping=mapping,
        group_ids=[],
    )
    contact_import_run(contact_import=contact_import)

    assert contact_import.status == ImportStatus.FINISHED, contact_import.fatal_error
    assert (contact_import.created_count, contact_import.error_count) == (2, 0)
    fields = ["email", "phone", "landline", "country_iso", "name", "surname", "external_id", "custom_fields"]
    original = list(Contact.objects.filter(account=account).order_by("phone").values_list(*fields))
    imported = list(
        Contact.objects.filter(account=target).exclude(email="other@example.com").order_by("phone").values_list(*fields)
    )
    assert imported == original


# ---------------------------------------------------------------------------------------------
# Management command


def test_export_contacts_command_writes_csv_and_xlsx_and_filters_by_group(exported, tmp_path):
    account, (first, second) = exported
    out = tmp_path / "all.csv"
    call_command("export_contacts", "--account", account.name, str(out))
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [str(first.id), str(second.id)]

    out = tmp_path / "vip.xlsx"
    call_command("export_contacts", "--account", account.name, "--group", "VIP", str(out))
    rows = list(load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    assert [row[0] for row in rows[1:]] == [first.id]

    out = tmp_path / "news.data"
    call_command("export_contacts", "--account", account.name, "--format", "csv", "--group", "News", str(out))
    assert len(out.read_text(encoding="utf-8-sig").splitlines()) == 3


def test_export_contacts_command_reports_unknown_account_and_group(exported, tmp_path):
    account, _ = exported
    with pytest.raises(CommandError, match='No account named "Nope"'):
        call_command("export_contacts", "--account", "Nope", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError, match="No group named Missing"):
        call_command("export_contacts", "--account", account.name, "--group", "Missing", str(tmp_path / "x.csv"))
    assert not Path(tmp_path / "x.csv").exists()
