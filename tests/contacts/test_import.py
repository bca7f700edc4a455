import io
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from contacts import importing
from contacts.importing import (
    ImportCountryInvalid,
    ImportFileInvalid,
    ImportGroupsInvalid,
    ImportMappingInvalid,
    contact_import_create,
    contact_import_enqueue,
    contact_import_errors_csv,
    contact_import_progress,
    contact_import_progress_key,
    contact_import_run,
    import_file_headers,
)
from contacts.models import (
    Contact,
    ContactImport,
    ContactImportError,
    CustomField,
    Group,
    ImportStatus,
    Membership,
)
from contacts.tasks import run_contact_import

MAPPING = {
    "Phone": "phone",
    "E-mail": "email",
    "Country": "countryIso",
    "First name": "name",
    "Last name": "surname",
    "Ref": "externalId",
    "Birthday": "custom:birthday:date",
    "Spent": "custom:spent:decimal",
    "Colour": "custom:colour",
}
HEADER = "Phone,E-mail,Country,First name,Last name,Ref,Birthday,Spent,Colour"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture(params=["postgresql", "portable"])
def write_path(request, monkeypatch):
    """Runs a test through the PostgreSQL statements (COPY, unnest) and through Django's portable
    bulk operations used on other databases."""
    if request.param == "portable":
        monkeypatch.setattr(importing, "_postgresql", lambda: False)
    return request.param


def csv_upload(text: str, name: str = "contacts.csv", encoding: str = "utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def xlsx_upload(rows: list[list], name: str = "contacts.xlsx") -> SimpleUploadedFile:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


def run_import(account, upload, mapping=None, group_ids=(), country="", user=None) -> ContactImport:
    contact_import = contact_import_create(
        account=account,
        created_by=user,
        uploaded_file=upload,
        mapping=mapping or MAPPING,
        group_ids=list(group_ids),
        default_country_iso=country,
    )
    contact_import_run(contact_import=contact_import)
    contact_import.refresh_from_db()
    return contact_import


def stored_files(media_root: Path) -> list[Path]:
    return [path for path in media_root.rglob("*") if path.is_file()] if media_root.exists() else []


# ---------------------------------------------------------------------------------------------
# Happy paths


def test_csv_import_creates_and_updates_contacts_with_groups_and_typed_custom_fields(account, api_user, write_path):
    group = Group.objects.create(account=account, name="Customers")
    existing = Contact.objects.create(
        account=account, phone="34666555444", country_iso="ES", name="Old", surname="Keep", custom_fields={"a": "1"}
    )
    by_email = Contact.objects.create(account=account, email="ana@example.com", name="Ana")
    upload = csv_upload(
        f"{HEADER}\n"
        "666 555 444,,ES,Pepe,,,1990-05-01,12.50,green\n"
        "+34 611 222 333,ANA@Example.com,ES,,,EXT-2,,,\n"
        "699111222,new@example.com,,Luis,García,EXT-3,2001-12-31,-3,blue\n"
    )
    contact_import = run_import(account, upload, group_ids=[group.id], country="ES", user=api_user)

    assert contact_import.status == ImportStatus.FINISHED
    assert (contact_import.total_rows, contact_import.processed_rows) == (3, 3)
    assert (contact_import.created_count, contact_import.updated_count, contact_import.error_count) == (1, 2, 0)
    assert contact_import.started_at and contact_import.finished_at
    assert contact_import.created_by == api_user

    existing.refresh_from_db()
    assert existing.name == "Pepe"
    assert existing.surname == "Keep"  # empty cells never erase data
    assert existing.custom_fields == {"a": "1", "birthday": "1990-05-01", "spent": "12.50", "colour": "green"}
    by_email.refresh_from_db()
    assert by_email.phone == "34611222333"
    assert by_email.external_id == "EXT-2"
    assert by_email.name == "Ana"
    created = Contact.objects.get(account=account, email="new@example.com")
    assert created.phone == "34699111222"
    assert created.country_iso == "ES"  # the import's default country
    assert (created.name, created.surname) == ("Luis", "García")
    assert created.custom_fields == {"birthday": "2001-12-31", "spent": "-3", "colour": "blue"}
    assert set(group.contacts.values_list("id", flat=True)) == {existing.id, by_email.id, created.id}
    types = dict(CustomField.objects.filter(account=account).values_list("key", "type"))
    assert types == {"birthday": "date", "spent": "decimal", "colour": "string"}


def test_xlsx_import_reads_numbers_and_dates_as_text(account):
    from datetime import date

    upload = xlsx_upload(
        [
            ["Phone", "E-mail", "Country", "Birthday", "Spent"],
            [34666555444, "a@example.com", "ES", date(1990, 5, 1), 12.5],
            [611222333, None, "ES", None, 7],
            [None, None, None, None, None],  # blank rows are skipped
        ]
    )
    mapping = {
        "Phone": "phone",
        "E-mail": "email",
        "Country": "countryIso",
        "Birthday": "custom:birthday:date",
        "Spent": "custom:spent:decimal",
    }
    contact_import = run_import(account, upload, mapping=mapping)

    assert contact_import.status == ImportStatus.FINISHED, contact_import.fatal_error
    assert (contact_import.created_count, contact_import.error_count) == (2, 0)
    first = Contact.objects.get(account=account, phone="34666555444")
    assert first.email == "a@example.com"
    assert first.custom_fields == {"birthday": "1990-05-01", "spent": "12.5"}
    assert Contact.objects.get(account=account, phone="34611222333").custom_fields == {"spent": "7"}


@pytest.mark.parametrize(
    "text",
    [
        "\ufeffPhone;E-mail;Name\n666555444;a@example.com;Doe, John\n611222333;b@example.com;Roe, Jane\n",
        "Phone\tE-mail\tName\n666555444\ta@example.com\tDoe, John\n611222333\tb@example.com\tRoe, Jane\n",
        '\ufeffPhone,E-mail,Name\n666555444,a@example.com,"Doe, John"\r\n611222333,b@example.com,"Roe, Jane"\r\n',
    ],
    ids=["semicolon-with-bom", "tab", "comma-with-bom-and-crlf"],
)
def test_delimiter_and_bom_are_detected(account, text):
    upload = csv_upload(text)
    assert import_file_headers(upload) == ["Phone", "E-mail", "Name"]
    mapping = {"Phone": "phone", "E-mail": "email", "Name": "name"}
    contact_import = run_import(account, upload, mapping=mapping, country="ES")

    assert (contact_import.created_count, contact_import.error_count) == (2, 0)
    assert Contact.objects.get(account=account, phone="34666555444").name == "Doe, John"
    assert Contact.objects.get(account=account, phone="34611222333").email == "b@example.com"


def test_international_numbers_without_a_country_get_the_numbers_country(account):
    upload = csv_upload("Phone\n+34666555444\n0033612345678\n")
    contact_import = run_import(account, upload, mapping={"Phone": "phone"})

    assert contact_import.created_count == 2
    countries = dict(Contact.objects.filter(account=account).values_list("phone", "country_iso"))
    assert countries == {"34666555444": "ES", "33612345678": "FR"}


def test_landline_only_rows_match_on_landline(account, write_path):
    existing = Contact.objects.create(account=account, landline="34912345678", country_iso="ES")
    upload = csv_upload("Landline,Name\n912345678,Reception\n")
    contact_import = run_import(account, upload, mapping={"Landline": "landline", "Name": "name"}, country="ES")

    assert (contact_import.created_count, contact_import.updated_count) == (0, 1)
    existing.refresh_from_db()
    assert existing.name == "Reception"


def test_importing_the_same_file_twice_updates_instead_of_duplicating(account, write_path):
    text = f"{HEADER}\n666555444,a@example.com,ES,Ana,,,,,\n611222333,b@example.com,ES,Bea,,,,,\n"
    first = run_import(account, csv_upload(text))
    second = run_import(account, csv_upload(text))

    assert (first.created_count, first.updated_count) == (2, 0)
    assert (second.created_count, second.updated_count, second.error_count) == (0, 2, 0)
    assert Contact.objects.filter(account=account).count() == 2


def test_rows_are_written_in_batches_with_a_bounded_number_of_queries(
    account, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(importing, "BATCH_SIZE", 50)
    group = Group.objects.create(account=account, name="All")
    lines = [f"6{index:08d},user{index}@example.com,ES,Name {index},,,,,x" for index in range(400)]
    contact_import = contact_import_create(
        account=account,
        created_by=None,
        uploaded_file=csv_upload(HEADER + "\n" + "\n".join(lines) + "\n"),
        mapping=MAPPING,
        group_ids=[group.id],
    )
    # 8 batches; a handful of queries each, whatever the number of rows.
    with django_assert_max_num_queries(60):
        contact_import_run(contact_import=contact_import)

    assert contact_import.created_count == 400
    assert Membership.objects.filter(group=group).count() == 400


# ---------------------------------------------------------------------------------------------
# Row errors


def test_each_row_error_is_reported_with_its_row_number_and_values_and_the_row_is_skipped(
    account, other_user, write_path
):
    Contact.objects.create(account=account, phone="34600000001", country_iso="ES")
    Contact.objects.create(account=account, email="taken@example.com")
    CustomField.objects.create(account=account, key="spent", type="decimal")
    upload = csv_upload(
        "Phone,E-mail,Country,First name,Spent\n"
        "666555444,ok@example.com,ES,Good,1.5\n"  # 2: fine
        "12,,ES,,\n"  # 3: bad phone
        ",not-an-email,,,\n"  # 4: bad email
        ",,ES,Nobody,\n"  # 5: no identifier
        "611222333,,,,\n"  # 6: national number without a country
        "622333444,,ES,,lots\n"  # 7: not a decimal
        "666 555 444,,ES,Again,\n"  # 8: duplicate phone of row 2
        "633444555,OK@example.com,ES,,\n"  # 9: duplicate email of row 2
        "600000001,taken@example.com,ES,,\n"  # 10: email of another contact than the phone's
        f"644555666,,ES,{'x' * 256},\n"  # 11: name too long
        "655666777,,XX,,\n"  # 12: unknown country
        "\n"  # blank line: skipped, not an error
        "677888999,last@example.com,ES,Last,2\n"  # 14: fine
    )
    mapping = {
        "Phone": "phone",
        "E-mail": "email",
        "Country": "countryIso",
        "First name": "name",
        "Spent": "custom:spent",
    }
    contact_import = run_import(account, upload, mapping=mapping)

    assert contact_import.status == ImportStatus.FINISHED
    assert (contact_import.created_count, contact_import.updated_count, contact_import.error_count) == (2, 0, 10)
    assert contact_import.processed_rows == 12
    errors = {error.row_number: error for error in contact_import.row_errors.all()}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert errors[3].message == 'Column "Phone" (phone): must be a valid phone number.'
    assert errors[3].values == {"Phone": "12", "E-mail": "", "Country": "ES", "First name": "", "Spent": ""}
    assert errors[4].message == 'Column "E-mail" (email): must be a valid email address.'
    assert errors[5].message == "The row has no email, phone or landline."
    assert "needs a countryIso column or a default country" in errors[6].message
    assert errors[7].message == 'Column "Spent" (custom:spent): must be a decimal number (decimal field).'
    assert errors[8].message == "Duplicate of row 2 (same phone); only the first is imported."
    assert errors[9].message == "Duplicate of row 2 (same email); only the first is imported."
    assert "belongs to another contact" in errors[10].message
    assert "may not be greater than 255 characters" in errors[11].message
    assert "two-letter ISO country code" in errors[12].message
    # Nothing was written for the failed rows.
    phones = set(Contact.objects.filter(account=account).values_list("phone", flat=True))
    assert phones == {"34600000001", "34666555444", "34677888999", None}
    assert Contact.objects.get(account=account, phone="34666555444").name == "Good"
    assert Contact.objects.get(account=account, phone="34600000001").email is None


def test_a_row_matching_a_contact_already_updated_by_an_earlier_row_is_reported(account):
    Contact.objects.create(account=account, phone="34666555444", email="a@example.com", country_iso="ES")
    upload = csv_upload("Phone,E-mail\n666555444,\n,a@example.com\n")
    contact_import = run_import(account, upload, mapping={"Phone": "phone", "E-mail": "email"}, country="ES")

    assert (contact_import.updated_count, contact_import.error_count) == (1, 1)
    assert contact_import.row_errors.get().message == "Matches the same contact as row 2; only the first is imported."


def test_errors_csv_lists_row_message_and_original_cells_in_file_order(account):
    upload = csv_upload("Phone,Name,E-mail\nbad,=HYPERLINK(),\n666555444,Ok,\n")
    contact_import = run_import(account, upload, mapping={"Phone": "phone", "Name": "name"}, country="ES")

    text = "".join(contact_import_errors_csv(contact_import=contact_import))
    assert text.startswith("\ufeff")
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == "row,error,Phone,Name,E-mail"
    assert lines[1] == '2,"Column ""Phone"" (phone): must be a valid phone number.",bad,\'=HYPERLINK(),'
    assert len(lines) == 2


# ---------------------------------------------------------------------------------------------
# Fatal errors


def test_database_failure_mid_import_rolls_back_everything_and_marks_the_import_failed(
    account, monkeypatch, write_path
):
    monkeypatch.setattr(importing, "BATCH_SIZE", 2)
    group = Group.objects.create(account=account, name="G")
    # A contact the second batch does not see (as if written concurrently): inserting the same phone
    # makes the database itself fail on the unique constraint, after the first batch was written.
    Contact.objects.create(account=account, phone="34611222333", country_iso="ES")
    real_existing_contacts = importing._ImportRun._existing_contacts
    calls = []

    def blind_second_lookup(self, batch):
        calls.append(1)
        return ({}, {}, {}) if len(calls) == 2 else real_existing_contacts(self, batch)

    monkeypatch.setattr(importing._ImportRun, "_existing_contacts", blind_second_lookup)
    upload = csv_upload(f"{HEADER}\n666555444,,ES,A,,,,,x\n,bad,,,,,,,\n611222333,,ES,B,,,,,y\n622333444,,ES,C,,,,,z\n")
    contact_import = run_import(account, upload, group_ids=[group.id])

    assert contact_import.status == ImportStatus.FAILED
    assert contact_import.fatal_error.startswith("Database error, nothing was imported: duplicate key value")
    assert contact_import.finished_at is not None
    assert (contact_import.created_count, contact_import.error_count, contact_import.processed_rows) == (0, 0, 0)
    assert list(Contact.objects.filter(account=account).values_list("phone", flat=True)) == ["34611222333"]
    assert not Membership.objects.exists()
    assert not CustomField.objects.filter(account=account).exists()
    assert not ContactImportError.objects.exists()
    assert cache.get(contact_import_progress_key(contact_import.id)) is None


def test_file_that_became_unreadable_fails_the_import_with_a_clear_message(account):
    contact_import = contact_import_create(
        account=account,
        created_by=None,
        uploaded_file=csv_upload("Phone\n666555444\n"),
        mapping={"Phone": "phone"},
        group_ids=[],
        default_country_iso="ES",
    )
    Path(contact_import.file.path).write_bytes(b"Phone\n\xff\xfe\x00broken")
    contact_import_run(contact_import=contact_import)
    contact_import.refresh_from_db()

    assert contact_import.status == ImportStatus.FAILED
    assert contact_import.fatal_error == "The file is not UTF-8 text; save it as CSV UTF-8."
    assert not Contact.objects.exists()


def test_invalid_utf8_after_the_first_batch_rolls_back_the_earlier_batches(account, monkeypatch):
    monkeypatch.setattr(importing, "BATCH_SIZE", 2)
    body = b"Phone\n666555444\n611222333\n622333444\n" + b"x" * 70000 + b"\n633\xff444555\n"
    upload = SimpleUploadedFile("contacts.csv", body)
    contact_import = run_import(account, upload, mapping={"Phone": "phone"}, country="ES")

    assert contact_import.status == ImportStatus.FAILED
    assert "not UTF-8" in contact_import.fatal_error
    assert not Contact.objects.exists()


# ---------------------------------------------------------------------------------------------
# Validation at upload: clear errors, nothing stored


@pytest.mark.parametrize(
    ("upload", "mapping", "error", "message"),
    [
        (csv_upload("Phone\n1\n", name="contacts.pdf"), {"Phone": "phone"}, ImportFileInvalid, "Only CSV"),
        (SimpleUploadedFile("c.csv", b"PK\x03\x04rest"), {"Phone": "phone"}, ImportFileInvalid, "not CSV text"),
        (csv_upload("Phone\n1\n", name="c.xlsx"), {"Phone": "phone"}, ImportFileInvalid, "not a valid Excel"),
        (csv_upload("Phone\n1\n", encoding="utf-16"), {"Phone": "phone"}, ImportFileInvalid, "not UTF-8"),
        (SimpleUploadedFile("c.csv", b"Ph\xe9ne\n1\n"), {"Phone": "phone"}, ImportFileInvalid, "not UTF-8"),
        (csv_upload(""), {"Phone": "phone"}, ImportFileInvalid, "The file is empty."),
        (csv_upload("Phone\n1\n"), {"Mobile": "phone"}, ImportMappingInvalid, 'Column "Mobile" is not in the file'),
        (csv_upload("Phone\n1\n"), {"Phone": "mobile"}, ImportMappingInvalid, 'unknown field "mobile"'),
        (csv_upload("Phone,Name\n1,a\n"), {"Name": "name"}, ImportMappingInvalid, "email, phone or landline"),
        (csv_upload("A,B\n1,2\n"), {"A": "phone", "B": "phone"}, ImportMappingInvalid, "more than one column"),
        (csv_upload("A,A\n1,2\n"), {"A": "phone"}, ImportMappingInvalid, "appears more than once"),
        (csv_upload("A,B\n1,2\n"), {"A": "phone", "B": "custom:bad key"}, ImportMappingInvalid, "not a valid custom"),
        (csv_upload("A,B\n1,2\n"), {"A": "phone", "B": "custom:k:int"}, ImportMappingInvalid, "type must be one of"),
        (csv_upload("A\n1\n"), ["A"], ImportMappingInvalid, "must be an object"),
    ],
)
def test_invalid_upload_is_refused_with_a_clear_message_and_nothing_is_stored(
    account, _media_root, upload, mapping, error, message
):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        contact_import_create(
            account=account,
            created_by=None,
            uploaded_file=upload,
            mapping=mapping,
            group_ids=[],
            default_country_iso="",
        )
    assert not ContactImport.objects.exists()
    assert stored_files(_media_root) == []


def test_file_above_the_size_limit_is_refused(account, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 10
    with pytest.raises(ImportFileInvalid, match="larger than the limit"):
        contact_import_create(
            account=account,
            created_by=None,
            uploaded_file=csv_upload("Phone\n666555444\n"),
            mapping={"Phone": "phone"},
            group_ids=[],
        )


def test_custom_field_type_conflicting_with_the_existing_definition_is_refused(account):
    CustomField.objects.create(account=account, key="birthday", type="date")
    with pytest.raises(ImportMappingInvalid, match="already exists with type date"):
        contact_import_create(
            account=account,
            created_by=None,
            uploaded_file=csv_upload("Phone,B\n1,2\n"),
            mapping={"Phone": "phone", "B": "custom:birthday:decimal"},
            group_ids=[],
        )


def test_invalid_default_country_is_refused(account):
    with pytest.raises(ImportCountryInvalid):
        contact_import_create(
            account=account,
            created_by=None,
            uploaded_file=csv_upload("Phone\n1\n"),
            mapping={"Phone": "phone"},
            group_ids=[],
            default_country_iso="Spain",
        )


# ---------------------------------------------------------------------------------------------
# Account isolation


def test_groups_of_another_account_are_refused_like_unknown_ones(account, other_user, _media_root):
    foreign = Group.objects.create(account=other_user.account, name="Theirs")
    with pytest.raises(ImportGroupsInvalid, match=f"Unknown group id\\(s\\): {foreign.id}."):
        contact_import_create(
            account=account,
            created_by=None,
            uploaded_file=csv_upload("Phone\n666555444\n"),
            mapping={"Phone": "phone"},
            group_ids=[foreign.id],
        )
    assert not ContactImport.objects.exists()
    assert stored_files(_media_root) == []


def test_rows_never_match_another_accounts_contacts(account, other_user):
    theirs = Contact.objects.create(
        account=other_user.account, phone="34666555444", email="a@example.com", name="Theirs", country_iso="ES"
    )
    contact_import = run_import(
        account,
        csv_upload("Phone,E-mail,Name\n666555444,a@example.com,Mine\n"),
        mapping={"Phone": "phone", "E-mail": "email", "Name": "name"},
        country="ES",
    )

    assert (contact_import.created_count, contact_import.updated_count) == (1, 0)
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert Contact.objects.get(account=account).name == "Mine"


# ---------------------------------------------------------------------------------------------
# Queue, progress, task


def test_enqueue_sends_the_task_after_commit(account, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(importing, "async_task", lambda name, *args: sent.append((name, *args)))
    contact_import = contact_import_create(
        account=account,
        created_by=None,
        uploaded_file=csv_upload("Phone\n666555444\n"),
        mapping={"Phone": "phone"},
        group_ids=[],
        default_country_iso="ES",
    )
    with django_capture_on_commit_callbacks(execute=True):
        contact_import_enqueue(contact_import=contact_import)
        assert sent == []

    assert sent == [("contacts.tasks.run_contact_import", contact_import.id)]


def test_task_runs_a_pending_import_and_leaves_a_finished_one_alone(account):
    contact_import = contact_import_create(
        account=account,
        created_by=None,
        uploaded_file=csv_upload("Phone\n666555444\n"),
        mapping={"Phone": "phone"},
        group_ids=[],
        default_country_iso="ES",
    )
    result = run_contact_import(contact_import.id)

    assert result == {"status": "finished", "created": 1, "updated": 0, "errors": 0}
    assert run_contact_import(contact_import.id) == {"status": "finished"}
    assert Contact.objects.filter(account=account).count() == 1
    assert run_contact_import(999999) is None


def test_progress_comes_from_the_cache_while_running_and_from_the_row_when_done(account, monkeypatch):
    contact_import = contact_import_create(
        account=account,
        created_by=None,
        uploaded_file=csv_upload("Phone\n666555444\n611222333\n622333444\n"),
        mapping={"Phone": "phone"},
        group_ids=[],
        default_country_iso="ES",
    )
    monkeypatch.setattr(importing, "BATCH_SIZE", 2)
    seen = []
    real_write_batch = importing._ImportRun._write_batch

    def spying_write_batch(self, batch):
        real_write_batch(self, batch)
        row = ContactImport.objects.get(pk=contact_import.pk)
        seen.append(contact_import_progress(contact_import=row))

    monkeypatch.setattr(importing._ImportRun, "_write_batch", spying_write_batch)
    contact_import_run(contact_import=contact_import)

    assert [(p["status"], p["processed_rows"], p["total_rows"], p["percent"]) for p in seen] == [
        ("running", 2, 3, 66),
        ("running", 3, 3, 100),
    ]
    contact_import.refresh_from_db()
    final = contact_import_progress(contact_import=contact_import)
    assert (final["status"], final["processed_rows"], final["percent"], final["done"]) == ("finished", 3, 100, True)


# ---------------------------------------------------------------------------------------------
# Management command


def test_import_contacts_command_imports_now_and_prints_counts_and_row_errors(account, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Mobile;E-mail;Colour\n666555444;a@example.com;red\n;broken;\n", encoding="utf-8")
    out = io.StringIO()
    call_command(
        "import_contacts",
        str(path),
        "--account",
        "ACME",
        "--map",
        "Mobile=phone",
        "--map",
        "E-mail=email",
        "--map",
        "Colour=custom:colour",
        "--group",
        "Imported",
        "--country",
        "ES",
        stdout=out,
    )

    text = out.getvalue()
    assert ": 2 rows, 1 created, 0 updated, 1 errors." in text
    assert 'row 3: Column "E-mail" (email): must be a valid email address.' in text
    contact = Contact.objects.get(account=account)
    assert contact.custom_fields == {"colour": "red"}
    assert list(contact.groups.values_list("name", flat=True)) == ["Imported"]


def test_import_contacts_command_reports_bad_input(account, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Mobile\n666555444\n", encoding="utf-8")
    with pytest.raises(CommandError, match='No account named "Nope"'):
        call_command("import_contacts", str(path), "--account", "Nope", "--map", "Mobile=phone")
    with pytest.raises(CommandError, match="email, phone or landline"):
        call_command("import_contacts", str(path), "--account", "ACME", "--map", "Mobile=name")
    with pytest.raises(CommandError, match="must look like"):
        call_command("import_contacts", str(path), "--account", "ACME", "--map", "Mobile")
    assert not ContactImport.objects.exists()
