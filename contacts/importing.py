"""Contact imports from CSV and XLSX files.

The import is the bulk path for contacts, so it writes set-based (a few queries per batch of rows,
never one per row), but it applies the same rules as the API: phones and emails go through
`contacts.normalize`, custom-field values through `contacts.custom_fields.coerce_custom_value`
against the account's CustomField definitions.

Decisions:

- Matching: a row updates the account's contact with the same normalised phone, else the same email;
  a row with neither phone nor email (landline only) matches on landline. Anything else creates a
  contact. A matched contact gets every mapped, non-empty cell; empty cells never erase data.
- Duplicates inside one file: the first row wins and every later row with the same phone (or email,
  or the same matched contact) is reported as a row error, so nothing is merged silently.
- Row errors (bad phone or email, no identifier, national phone without a country, a custom value
  that does not fit its field's type, an email that belongs to another contact, duplicates) are
  stored as ContactImportError rows with the row number a spreadsheet shows (the header is row 1)
  and the original cells; the row is skipped and the rest goes on.
- The whole import is ONE transaction: a fatal error (unreadable file, database error) rolls back
  every contact, membership, custom-field definition and row error, and the import is then marked
  failed outside that transaction.
- Consent: a column mapped to `consent_sms`, `consent_mailing`, `consent_voice` or `consent_whatsapp`
  (the export's headers) sets that channel's consent of the row's contact. Cells read opted_in /
  opted_out / unknown, yes / no, true / false, 1 / 0 (any case); anything else is a row error; an empty
  cell leaves the consent alone. Written with source "import" through compliance.consent, one
  `consents_set` per batch, recording history only where the status changes.
- Progress: the rows written inside the open transaction are invisible to other connections, and so
  would be an update of the import row. The running counters therefore go to the Django cache
  (Redis in production) under `contact_import_progress_key(id)`, and the final numbers are stored on
  the ContactImport row in the same transaction as the contacts.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import IO, Any

import phonenumbers
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.db.models import BooleanField, Model, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django_q.tasks import async_task
from openpyxl import load_workbook

from accounts.models import Account, User
from compliance.consent import ConsentChange, ConsentInvalid, consent_status_parse, consents_set
from compliance.models import ConsentChannel, ConsentSource
from contacts.custom_fields import InvalidCustomValue, coerce_custom_value, valid_key
from contacts.models import (
    Contact,
    ContactImport,
    ContactImportError,
    CustomField,
    CustomFieldType,
    Group,
    ImportStatus,
    Membership,
)
from contacts.normalize import InvalidRecipient, normalise_email, normalise_phone
from contacts.services import normalise_country_iso

logger = logging.getLogger(__name__)

# Rows per batch: big enough that the per-batch queries are few, small enough that a batch's
# objects and its IN (...) lists stay cheap.
BATCH_SIZE = 2000
# Django's bulk_update writes one CASE per field whose cost grows with the square of the batch, so it
# is split further.
UPDATE_BATCH_SIZE = 250
PROGRESS_TIMEOUT_SECONDS = 24 * 3600

# Mapping targets, named like the API's fields.
FIELD_EMAIL = "email"
FIELD_PHONE = "phone"
FIELD_LANDLINE = "landline"
FIELD_COUNTRY = "countryIso"
FIELD_NAME = "name"
FIELD_SURNAME = "surname"
FIELD_EXTERNAL_ID = "externalId"
CONTACT_FIELDS = (
    FIELD_EMAIL,
    FIELD_PHONE,
    FIELD_LANDLINE,
    FIELD_COUNTRY,
    FIELD_NAME,
    FIELD_SURNAME,
    FIELD_EXTERNAL_ID,
)
IDENTIFIER_FIELDS = (FIELD_EMAIL, FIELD_PHONE, FIELD_LANDLINE)
# Consent targets, named like the export's columns: target -> consent channel.
CONSENT_FIELDS = {f"consent_{channel}": channel for channel in ConsentChannel.values}
CUSTOM_PREFIX = "custom:"
_TEXT_FIELD_MAX_LENGTH = 255
_NATIONAL_NUMBER_HINT = " (a national number needs a countryIso column or a default country)"
# Cells an export prefixed with a quote against spreadsheet formula injection (see contacts.exporting);
# the quote is dropped on import so an exported file reads back as it was.
_ESCAPED_CELL = re.compile(r"^'[=+\-@\t\r]")


class ContactImportInvalid(ValueError):
    """The upload cannot be imported as asked; the message tells the user what to change."""


class ImportFileInvalid(ContactImportInvalid):
    """The file is of the wrong type, too big, empty or unreadable."""


class ImportMappingInvalid(ContactImportInvalid):
    """The column mapping names missing columns or unknown fields, or maps no identifier."""


class ImportGroupsInvalid(ContactImportInvalid):
    """A target group does not exist in the account."""


class ImportCountryInvalid(ContactImportInvalid):
    """The default country is not a two-letter ISO code."""


class FileFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


_EXTENSION_FORMATS = {".csv": FileFormat.CSV, ".txt": FileFormat.CSV, ".xlsx": FileFormat.XLSX}
_ZIP_MAGIC = b"PK\x03\x04"
_CSV_DELIMITERS = (",", ";", "\t")
_SNIFF_BYTES = 64 * 1024


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------


def file_format_for_name(name: str) -> FileFormat:
    extension = os.path.splitext(name or "")[1].lower()
    try:
        return _EXTENSION_FORMATS[extension]
    except KeyError:
        raise ImportFileInvalid("Only CSV (.csv) and Excel (.xlsx) files can be imported.") from None


def _raw_stream(file: Any) -> IO[bytes]:
    """The innermost binary file of a Django File / UploadedFile / FieldFile, rewound."""
    stream = file
    while not isinstance(stream, io.IOBase) and getattr(stream, "file", None) is not None:
        stream = stream.file
    stream.seek(0)
    return stream


def _check_csv_content(head: bytes) -> None:
    if head.startswith(_ZIP_MAGIC):
        raise ImportFileInvalid("The file is an Excel or zip file, not CSV text; save it as .xlsx or export it as CSV.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
        raise ImportFileInvalid("The file is not UTF-8 text; save it as CSV UTF-8.")
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        raise ImportFileInvalid("The file is not UTF-8 text; save it as CSV UTF-8.") from None


def _sniff_delimiter(sample: str) -> str:
    """The delimiter among , ; and tab that splits the header into the most columns consistently.

    csv.Sniffer is easily fooled by commas inside values of a semicolon file, so each candidate is
    scored on how many sample rows have exactly as many cells as the header.
    """
    best, best_score = ",", (0, 0)
    for delimiter in _CSV_DELIMITERS:
        try:
            rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row][:50]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(1 for row in rows[1:] if len(row) == width), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a CSV would hold: integral numbers without '.0', dates in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e18:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime):
        if value.tzinfo is None and value.time() == time.min:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


class _Table:
    """Header and streamed data rows of an import file; rows are lists of strings."""

    def __init__(self, headers: list[str], rows: Iterator[list[str]], estimated_rows: int | None = None) -> None:
        self.headers = headers
        self._rows = rows
        # Data rows as the file declares them (an XLSX dimension), when it does; may count blank rows.
        self.estimated_rows = estimated_rows

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(row number as a spreadsheet shows it, cells); blank rows are skipped."""
        for index, cells in enumerate(self._rows, start=2):
            if any(cell.strip() for cell in cells):
                yield index, cells


@contextmanager
def _open_csv(stream: IO[bytes]) -> Iterator[_Table]:
    _check_csv_content(stream.read(8192))
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        sample = text.read(_SNIFF_BYTES)
        if len(sample) == _SNIFF_BYTES and "\n" in sample:
            sample = sample[: sample.rindex("\n")]
        delimiter = _sniff_delimiter(sample)
        text.seek(0)
        reader = csv.reader(text, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise ImportFileInvalid("The file is empty.")
        yield _Table([cell.strip() for cell in header], reader)
    except UnicodeDecodeError:
        raise ImportFileInvalid("The file is not UTF-8 text; save it as CSV UTF-8.") from None
    except csv.Error as exc:
        raise ImportFileInvalid(f"The CSV file cannot be read: {exc}.") from None
    finally:
        # The caller owns the underlying file; detaching keeps the wrapper from closing it.
        text.detach()


@contextmanager
def _open_xlsx(stream: IO[bytes]) -> Iterator[_Table]:
    if not stream.read(4).startswith(_ZIP_MAGIC):
        raise ImportFileInvalid("The file is not a valid Excel (.xlsx) workbook.")
    stream.seek(0)
    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zip, XML and key errors for damaged files alike
        raise ImportFileInvalid("The file is not a valid Excel (.xlsx) workbook.") from exc
    try:
        if not workbook.worksheets:
            raise ImportFileInvalid("The workbook has no sheet.")
        sheet = workbook.worksheets[0]
        rows = (list(map(_cell_text, row)) for row in sheet.iter_rows(values_only=True))
        header = next(rows, None)
        if header is None:
            raise ImportFileInvalid("The file is empty.")
        declared = sheet.max_row
        yield _Table([cell.strip() for cell in header], rows, declared - 1 if declared else None)
    finally:
        workbook.close()


@contextmanager
def _open_table(file: Any, file_format: FileFormat) -> Iterator[_Table]:
    stream = _raw_stream(file)
    opener = _open_xlsx if file_format == FileFormat.XLSX else _open_csv
    with opener(stream) as table:
        yield table


def _check_size(file: Any) -> None:
    limit = settings.CONTACT_IMPORT_MAX_BYTES
    if (file.size or 0) > limit:
        raise ImportFileInvalid(f"The file is larger than the limit of {limit / (1024 * 1024):g} MB.")


def import_file_headers(uploaded_file: Any) -> list[str]:
    """The column headers of an upload, after checking its type, size and content (for the mapping step)."""
    file_format = file_format_for_name(uploaded_file.name)
    _check_size(uploaded_file)
    with _open_table(uploaded_file, file_format) as table:
        headers = table.headers
    if not any(headers):
        raise ImportFileInvalid("The first row must hold the column headers.")
    return headers


def _value_keys(headers: Sequence[str]) -> list[str]:
    """Unique keys for a row's original cells: the header, or 'Column N' when it is blank or repeated."""
    keys: list[str] = []
    seen: set[str] = set()
    for index, header in enumerate(headers, start=1):
        key = header if header and header not in seen else f"Column {index}"
        seen.add(key)
        keys.append(key)
    return keys


# ---------------------------------------------------------------------------------------------
# Mapping
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingTarget:
    """Where one column goes: a contact field (`field`) or a custom field (`custom_key`)."""

    header: str
    field: str = ""
    custom_key: str = ""
    custom_type: str = ""  # only when the mapping names it (custom:<key>:<type>)

    @property
    def label(self) -> str:
        target = f"{CUSTOM_PREFIX}{self.custom_key}" if self.custom_key else self.field
        return f'Column "{self.header}" ({target})'


def parse_mapping_target(header: str, target: str) -> MappingTarget:
    target = (target or "").strip()
    if target in CONTACT_FIELDS or target in CONSENT_FIELDS:
        return MappingTarget(header=header, field=target)
    if target.startswith(CUSTOM_PREFIX):
        key, _, custom_type = target[len(CUSTOM_PREFIX) :].partition(":")
        if not valid_key(key):
            raise ImportMappingInvalid(
                f'Column "{header}": "{key}" is not a valid custom field key (letters, digits, _ . -, '
                "up to 64 characters)."
            )
        if custom_type and custom_type not in CustomFieldType.values:
            raise ImportMappingInvalid(
                f'Column "{header}": custom field type must be one of {", ".join(CustomFieldType.values)}.'
            )
        return MappingTarget(header=header, custom_key=key, custom_type=custom_type)
    raise ImportMappingInvalid(
        f'Column "{header}": unknown field "{target}". Use one of {", ".join(CONTACT_FIELDS)}, '
        f"{', '.join(CONSENT_FIELDS)}, custom:<key> or custom:<key>:<type>."
    )


def validate_mapping(*, mapping: Any, headers: Sequence[str], account: Account) -> dict[str, str]:
    """The mapping cleaned for storage (blank targets dropped), or ImportMappingInvalid."""
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ImportMappingInvalid('The mapping must be an object of "column header": "field".')
    cleaned = {header.strip(): target.strip() for header, target in mapping.items() if target.strip()}
    known = [header for header in headers if header]
    targets: list[MappingTarget] = []
    for header, target in cleaned.items():
        if header not in known:
            shown = ", ".join(f'"{h}"' for h in known[:20])
            raise ImportMappingInvalid(f'Column "{header}" is not in the file. Its columns are: {shown}.')
        if known.count(header) > 1:
            raise ImportMappingInvalid(f'Column "{header}" appears more than once in the file; rename one of them.')
        targets.append(parse_mapping_target(header, target))
    used: dict[str, str] = {}
    for target in targets:
        name = f"{CUSTOM_PREFIX}{target.custom_key}" if target.custom_key else target.field
        if name in used:
            raise ImportMappingInvalid(
                f'{name} is mapped from more than one column ("{used[name]}" and "{target.header}").'
            )
        used[name] = target.header
    if not any(target.field in IDENTIFIER_FIELDS for target in targets):
        raise ImportMappingInvalid("Map at least one column to email, phone or landline.")
    _check_custom_types(account, targets)
    return cleaned


def _check_custom_types(account: Account, targets: Iterable[MappingTarget]) -> dict[str, str]:
    """Types of the mapped custom keys: the existing definition's, else the mapped one, else string."""
    custom = [target for target in targets if target.custom_key]
    existing = dict(
        CustomField.objects.filter(account=account, key__in=[t.custom_key for t in custom]).values_list("key", "type")
    )
    types: dict[str, str] = {}
    for target in custom:
        current = existing.get(target.custom_key)
        if current and target.custom_type and target.custom_type != current:
            raise ImportMappingInvalid(
                f'Custom field "{target.custom_key}" already exists with type {current}; map it as '
                f"custom:{target.custom_key} or custom:{target.custom_key}:{current}."
            )
        types[target.custom_key] = current or target.custom_type or CustomFieldType.STRING
    return types


def validate_default_country(value: str | None) -> str:
    try:
        return normalise_country_iso(value) or ""
    except ValidationError:
        raise ImportCountryInvalid("The default country must be a two-letter ISO country code such as ES.") from None


def _account_groups(account: Account, group_ids: Iterable[Any]) -> list[Group]:
    try:
        wanted = {int(group_id) for group_id in group_ids}
    except (TypeError, ValueError):
        raise ImportGroupsInvalid("Group ids must be integers.") from None
    groups = list(Group.objects.filter(account=account, id__in=wanted))
    missing = wanted - {group.id for group in groups}
    if missing:
        # Groups of other accounts are reported exactly like ids that do not exist.
        raise ImportGroupsInvalid(f"Unknown group id(s): {', '.join(map(str, sorted(missing)))}.")
    return groups


# ---------------------------------------------------------------------------------------------
# Creating, enqueueing and reporting
# ---------------------------------------------------------------------------------------------


def contact_import_create(
    *,
    account: Account,
    created_by: User | None,
    uploaded_file: Any,
    mapping: dict[str, str],
    group_ids: Sequence[int],
    default_country_iso: str = "",
) -> ContactImport:
    """Validate an upload with its mapping and store it as a pending import; nothing is stored on error."""
    headers = import_file_headers(uploaded_file)
    cleaned_mapping = validate_mapping(mapping=mapping, headers=headers, account=account)
    country = validate_default_country(default_country_iso)
    groups = _account_groups(account, group_ids)
    original_name = os.path.basename(uploaded_file.name or "")[:255]
    extension = os.path.splitext(original_name)[1].lower()
    contact_import = ContactImport(
        account=account,
        created_by=created_by,
        original_name=original_name,
        mapping=cleaned_mapping,
        default_country_iso=country,
    )
    contact_import.file.save(f"{uuid.uuid4().hex}{extension}", File(_raw_stream(uploaded_file)), save=False)
    try:
        with transaction.atomic():
            contact_import.save()
            contact_import.groups.set(groups)
    except BaseException:
        default_storage.delete(contact_import.file.name)
        raise
    return contact_import


# Staging: the admin asks for the file first and the mapping on a second page, so the upload waits
# in storage between the two requests under a random name.
STAGED_DIRECTORY = "imports/staged/"
_STAGED_PATH = re.compile(r"^imports/staged/[0-9a-f]{32}\.(csv|txt|xlsx)$")


@dataclass(frozen=True)
class StagedUpload:
    path: str
    original_name: str
    headers: list[str]


def contact_import_stage(*, uploaded_file: Any) -> StagedUpload:
    """Check an upload (type, size, content) and keep it in storage until its mapping is chosen."""
    headers = import_file_headers(uploaded_file)
    original_name = os.path.basename(uploaded_file.name or "")[:255]
    extension = os.path.splitext(original_name)[1].lower()
    path = default_storage.save(f"{STAGED_DIRECTORY}{uuid.uuid4().hex}{extension}", File(_raw_stream(uploaded_file)))
    return StagedUpload(path=path, original_name=original_name, headers=headers)


def staged_upload_open(*, path: str, original_name: str) -> File:
    """The staged file, named as uploaded (its extension tells the format); ImportFileInvalid if gone."""
    if not _STAGED_PATH.fullmatch(path or ""):
        raise ImportFileInvalid("The uploaded file is no longer available; upload it again.")
    try:
        stream = default_storage.open(path, "rb")
    except OSError:
        raise ImportFileInvalid("The uploaded file is no longer available; upload it again.") from None
    return File(stream, name=original_name)


def staged_upload_discard(*, path: str) -> None:
    if _STAGED_PATH.fullmatch(path or ""):
        default_storage.delete(path)


def contact_import_enqueue(*, contact_import: ContactImport) -> None:
    """Queue the import for the worker once the caller's transaction has committed it."""
    import_id = contact_import.id
    transaction.on_commit(lambda: async_task("contacts.tasks.run_contact_import", import_id))


def contact_import_progress_key(import_id: int) -> str:
    return f"contact-import-progress:{import_id}"


def contact_import_progress(*, contact_import: ContactImport) -> dict[str, Any]:
    """The numbers for a progress bar: the row's, overlaid with the running counters while it runs."""
    numbers = {
        "status": contact_import.status,
        "total_rows": contact_import.total_rows,
        "processed_rows": contact_import.processed_rows,
        "created_count": contact_import.created_count,
        "updated_count": contact_import.updated_count,
        "error_count": contact_import.error_count,
        "fatal_error": contact_import.fatal_error,
    }
    if contact_import.status == ImportStatus.RUNNING:
        numbers.update(cache.get(contact_import_progress_key(contact_import.id)) or {})
    total = numbers["total_rows"]
    if contact_import.status == ImportStatus.FINISHED:
        numbers["percent"] = 100
    else:
        numbers["percent"] = min(100, int(numbers["processed_rows"] * 100 / total)) if total else 0
    numbers["done"] = contact_import.status in (ImportStatus.FINISHED, ImportStatus.FAILED)
    return numbers


def contact_import_error_headers(*, contact_import: ContactImport) -> list[str]:
    """Keys of the stored row values in file order (read again from the file, as JSON keeps no order)."""
    try:
        with contact_import.file.open("rb") as file:
            with _open_table(file, file_format_for_name(contact_import.original_name)) as table:
                return _value_keys(table.headers)
    except (OSError, ContactImportInvalid):
        first = contact_import.row_errors.first()
        return sorted(first.values) if first else []


def contact_import_errors_csv(*, contact_import: ContactImport) -> Iterator[str]:
    """The row errors as CSV text chunks: row, error, then the original cells, so the file can be
    fixed and imported again with the same mapping."""
    from contacts.exporting import csv_safe

    headers = contact_import_error_headers(contact_import=contact_import)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "error", *map(csv_safe, headers)])
    yield "\ufeff" + _drain(buffer)
    errors = contact_import.row_errors.order_by("row_number", "id")
    for index, error in enumerate(errors.iterator(chunk_size=2000)):
        writer.writerow(
            [error.row_number, csv_safe(error.message), *(csv_safe(str(error.values.get(h, ""))) for h in headers)]
        )
        if index % 500 == 499:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def contact_import_run(*, contact_import: ContactImport) -> ContactImport:
    """Import every row in one transaction; a fatal error rolls all of it back and marks the import failed."""
    contact_import.status = ImportStatus.RUNNING
    contact_import.started_at = timezone.now()
    contact_import.finished_at = None
    contact_import.fatal_error = ""
    contact_import.total_rows = contact_import.processed_rows = 0
    contact_import.created_count = contact_import.updated_count = contact_import.error_count = 0
    contact_import.save(
        update_fields=[
            "status",
            "started_at",
            "finished_at",
            "fatal_error",
            "total_rows",
            "processed_rows",
            "created_count",
            "updated_count",
            "error_count",
        ]
    )
    progress_key = contact_import_progress_key(contact_import.id)
    try:
        total = _count_rows(contact_import)
        contact_import.total_rows = total
        contact_import.save(update_fields=["total_rows"])
        with transaction.atomic():
            # A redelivered task starts again from a clean slate.
            ContactImportError.objects.filter(contact_import=contact_import).delete()
            run = _ImportRun(contact_import)
            run.execute()
            contact_import.status = ImportStatus.FINISHED
            contact_import.total_rows = contact_import.processed_rows = run.processed
            contact_import.created_count = run.created
            contact_import.updated_count = run.updated
            contact_import.error_count = run.errors
            contact_import.finished_at = timezone.now()
            contact_import.save()
    except Exception as exc:
        logger.exception("Contact import %s failed", contact_import.id)
        _mark_failed(contact_import, _fatal_message(exc))
    finally:
        cache.delete(progress_key)
    return contact_import


def _fatal_message(exc: Exception) -> str:
    if isinstance(exc, ContactImportInvalid):
        return str(exc)
    if isinstance(exc, DatabaseError):
        return f"Database error, nothing was imported: {exc}".strip()
    return f"Unexpected error, nothing was imported: {exc.__class__.__name__}: {exc}"


def _mark_failed(contact_import: ContactImport, message: str) -> None:
    contact_import.status = ImportStatus.FAILED
    contact_import.fatal_error = message
    contact_import.processed_rows = 0
    contact_import.created_count = contact_import.updated_count = contact_import.error_count = 0
    contact_import.finished_at = timezone.now()
    try:
        ContactImport.objects.filter(pk=contact_import.pk).update(
            status=contact_import.status,
            fatal_error=message,
            processed_rows=0,
            created_count=0,
            updated_count=0,
            error_count=0,
            finished_at=contact_import.finished_at,
        )
    except DatabaseError:
        logger.exception("Could not mark contact import %s as failed", contact_import.id)


def _count_rows(contact_import: ContactImport) -> int:
    """Data rows in the file for the progress bar: an XLSX's declared size, else a fast pass over the rows."""
    with contact_import.file.open("rb") as file:
        with _open_table(file, file_format_for_name(contact_import.original_name)) as table:
            if table.estimated_rows is not None:
                return table.estimated_rows
            return sum(1 for _ in table.rows())


@dataclass
class _Row:
    number: int
    cells: list[str]
    errors: list[str] = field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    landline: str | None = None
    country_iso: str | None = None
    # The country a new contact gets (and a matched one without a country) when the row names none:
    # the import's default, else the phone's own country.
    fallback_country_iso: str | None = None
    name: str | None = None
    surname: str | None = None
    external_id: str | None = None
    custom: dict[str, str] = field(default_factory=dict)
    consents: dict[str, str] = field(default_factory=dict)  # channel -> status


class _ImportRun:
    """One run over the file; keeps what earlier rows claimed so later duplicates are reported."""

    def __init__(self, contact_import: ContactImport) -> None:
        self.contact_import = contact_import
        self.account = contact_import.account
        self.default_country = contact_import.default_country_iso or None
        self.group_ids = list(contact_import.groups.values_list("id", flat=True))
        self.processed = self.created = self.updated = self.errors = 0
        # normalised identifier -> row number of the row that took it
        self.seen_phones: dict[str, int] = {}
        self.seen_emails: dict[str, int] = {}
        self.seen_landlines: dict[str, int] = {}
        self.touched_contacts: dict[int, int] = {}

    def execute(self) -> None:
        file_format = file_format_for_name(self.contact_import.original_name)
        with self.contact_import.file.open("rb") as file, _open_table(file, file_format) as table:
            self.value_keys = _value_keys(table.headers)
            validate_mapping(mapping=self.contact_import.mapping, headers=table.headers, account=self.account)
            targets = [parse_mapping_target(h, t) for h, t in self.contact_import.mapping.items()]
            self.custom_types = self._ensure_custom_fields(targets)
            self.field_columns = {t.field: (table.headers.index(t.header), t) for t in targets if t.field}
            self.custom_columns = [
                (table.headers.index(t.header), t, self.custom_types[t.custom_key]) for t in targets if t.custom_key
            ]
            batch: list[_Row] = []
            for number, cells in table.rows():
                batch.append(self._parse(number, cells))
                if len(batch) >= BATCH_SIZE:
                    self._write_batch(batch)
                    batch = []
            if batch:
                self._write_batch(batch)

    def _ensure_custom_fields(self, targets: list[MappingTarget]) -> dict[str, str]:
        types = _check_custom_types(self.account, targets)
        existing = set(CustomField.objects.filter(account=self.account, key__in=types).values_list("key", flat=True))
        new_fields = [CustomField(account=self.account, key=k, type=t) for k, t in types.items() if k not in existing]
        CustomField.objects.bulk_create(new_fields)
        return types

    # -- one row, no queries ------------------------------------------------------------------

    def _parse(self, number: int, cells: list[str]) -> _Row:
        row = _Row(number=number, cells=cells)
        errors = row.errors
        texts: dict[str, tuple[str, MappingTarget]] = {}
        for name, (index, target) in self.field_columns.items():
            text = _cell(cells, index)
            if text:
                texts[name] = (text, target)

        if FIELD_COUNTRY in texts:
            text, target = texts[FIELD_COUNTRY]
            try:
                row.country_iso = normalise_country_iso(text)
            except ValidationError:
                errors.append(f"{target.label}: must be a two-letter ISO country code such as ES.")
        parse_country = row.country_iso or self.default_country
        for name in (FIELD_PHONE, FIELD_LANDLINE):
            if name in texts:
                text, target = texts[name]
                try:
                    setattr(row, name, normalise_phone(text, parse_country))
                except InvalidRecipient as exc:
                    hint = "" if parse_country else _NATIONAL_NUMBER_HINT
                    errors.append(f"{target.label}: {exc}{hint}.")
        if FIELD_EMAIL in texts:
            text, target = texts[FIELD_EMAIL]
            try:
                row.email = normalise_email(text)
            except InvalidRecipient as exc:
                errors.append(f"{target.label}: {exc}.")
        for name, attribute in ((FIELD_NAME, "name"), (FIELD_SURNAME, "surname"), (FIELD_EXTERNAL_ID, "external_id")):
            if name in texts:
                text, target = texts[name]
                if len(text) > _TEXT_FIELD_MAX_LENGTH:
                    errors.append(f"{target.label}: may not be greater than {_TEXT_FIELD_MAX_LENGTH} characters.")
                else:
                    setattr(row, attribute, text)
        for index, target, kind in self.custom_columns:
            text = _cell(cells, index)
            if text:
                try:
                    row.custom[target.custom_key] = coerce_custom_value(kind, text)
                except InvalidCustomValue as exc:
                    errors.append(f"{target.label}: {exc} ({kind} field).")
        for name, channel in CONSENT_FIELDS.items():
            if name in texts:
                text, target = texts[name]
                try:
                    row.consents[channel] = consent_status_parse(text)
                except ConsentInvalid as exc:
                    errors.append(f"{target.label}: {exc}")
        if not (FIELD_PHONE in texts or FIELD_EMAIL in texts or FIELD_LANDLINE in texts):
            errors.append("The row has no email, phone or landline.")
        if not errors and not row.country_iso:
            row.fallback_country_iso = self.default_country or _region_of(row.phone or row.landline)
        return row

    # -- one batch, a handful of queries --------------------------------------------------------

    def _write_batch(self, batch: list[_Row]) -> None:
        by_phone, by_email, by_landline = self._existing_contacts(batch)
        new_rows: list[_Row] = []
        to_update: dict[int, Contact] = {}
        updated_fields: set[str] = set()
        matched_ids: list[int] = []
        written: list[tuple[_Row, int]] = []  # (row, its contact's id)
        now = timezone.now()
        for row in batch:
            if not row.errors:
                self._check_duplicate(row)
            contact = None if row.errors else self._match(row, by_phone, by_email, by_landline)
            if row.errors:
                continue
            if contact is None:
                new_rows.append(row)
            else:
                changed = _apply_row(contact, row)
                if changed:
                    to_update[contact.id] = contact
                    updated_fields.update(changed)
                matched_ids.append(contact.id)
                written.append((row, contact.id))
                self.touched_contacts[contact.id] = row.number
            self._claim(row)

        new_ids = _insert_contacts(self.account, new_rows, now)
        for row, contact_id in zip(new_rows, new_ids, strict=True):
            self.touched_contacts[contact_id] = row.number
        _update_contacts(list(to_update.values()), updated_fields, now)
        _insert_memberships(new_ids, self.group_ids, now, fresh=True)
        _insert_memberships(matched_ids, self.group_ids, now, fresh=False)
        written.extend(zip(new_rows, new_ids, strict=True))
        self._write_consents(written, now)
        self.created += len(new_rows)
        self.updated += len(matched_ids)
        failed = [row for row in batch if row.errors]
        if failed:
            ContactImportError.objects.bulk_create(
                [
                    ContactImportError(
                        contact_import=self.contact_import,
                        row_number=row.number,
                        message="; ".join(row.errors),
                        values=dict(zip(self.value_keys, row.cells, strict=False)),
                    )
                    for row in failed
                ]
            )
        self.errors += len(failed)
        self.processed += len(batch)
        cache.set(
            contact_import_progress_key(self.contact_import.id),
            {
                "processed_rows": self.processed,
                "created_count": self.created,
                "updated_count": self.updated,
                "error_count": self.errors,
            },
            PROGRESS_TIMEOUT_SECONDS,
        )

    def _write_consents(self, written: list[tuple[_Row, int]], now: datetime) -> None:
        """The consent cells of the batch's written rows, in one set-based write."""
        changes = [
            ConsentChange(contact_id=contact_id, channel=channel, status=status)
            for row, contact_id in written
            for channel, status in row.consents.items()
        ]
        if changes:
            consents_set(
                account=self.account, changes=changes, source=ConsentSource.IMPORT, at=now,
                user=self.contact_import.created_by,
                note=f"Import {self.contact_import.pk} ({self.contact_import.original_name})",
            )  # fmt: skip

    def _existing_contacts(
        self, batch: list[_Row]
    ) -> tuple[dict[str, Contact], dict[str, Contact], dict[str, Contact]]:
        phones = {row.phone for row in batch if row.phone and not row.errors}
        emails = {row.email for row in batch if row.email and not row.errors}
        landlines = {row.landline for row in batch if _landline_only(row)}
        by_phone: dict[str, Contact] = {}
        by_email: dict[str, Contact] = {}
        by_landline: dict[str, Contact] = {}
        if phones or emails or landlines:
            condition = _any_of({"phone": phones, "email": emails, "landline": landlines})
            for contact in Contact.objects.filter(condition, account=self.account).order_by("id"):
                if contact.phone in phones:
                    by_phone[contact.phone] = contact
                if contact.email in emails:
                    by_email[contact.email] = contact
                if contact.landline in landlines:
                    by_landline.setdefault(contact.landline, contact)
        return by_phone, by_email, by_landline

    def _check_duplicate(self, row: _Row) -> None:
        first = None
        if row.phone and row.phone in self.seen_phones:
            first, what = self.seen_phones[row.phone], "phone"
        elif row.email and row.email in self.seen_emails:
            first, what = self.seen_emails[row.email], "email"
        elif _landline_only(row) and row.landline in self.seen_landlines:
            first, what = self.seen_landlines[row.landline or ""], "landline"
        if first is not None:
            row.errors.append(f"Duplicate of row {first} (same {what}); only the first is imported.")

    def _match(
        self,
        row: _Row,
        by_phone: dict[str, Contact],
        by_email: dict[str, Contact],
        by_landline: dict[str, Contact],
    ) -> Contact | None:
        contact = (
            (row.phone and by_phone.get(row.phone))
            or (row.email and by_email.get(row.email))
            or (_landline_only(row) and by_landline.get(row.landline or ""))
            or None
        )
        if contact is None:
            return None
        if contact.id in self.touched_contacts:
            row.errors.append(
                f"Matches the same contact as row {self.touched_contacts[contact.id]}; only the first is imported."
            )
            return None
        owner = by_email.get(row.email or "")
        if row.email and owner is not None and owner.id != contact.id:
            row.errors.append(f"The email {row.email} belongs to another contact (id {owner.id}) than the phone.")
            return None
        return contact

    def _claim(self, row: _Row) -> None:
        if row.phone:
            self.seen_phones[row.phone] = row.number
        if row.email:
            self.seen_emails[row.email] = row.number
        if _landline_only(row):
            self.seen_landlines[row.landline or ""] = row.number


def _any_of(values_by_field: dict[str, set[str]]) -> Q | RawSQL:
    """Contacts whose field holds one of the values, for any of the fields.

    On PostgreSQL each set goes as one array parameter (`= ANY(%s)`): building and quoting an
    IN list of thousands of parameters costs more than the indexed lookup itself.
    """
    wanted = {name: sorted(values) for name, values in values_by_field.items() if values}
    if not _postgresql():
        condition = Q()
        for name, values in wanted.items():
            condition |= Q(**{f"{name}__in": values})
        return condition
    quote = connection.ops.quote_name
    sql = " OR ".join(f"{quote(Contact._meta.get_field(name).column)} = ANY(%s)" for name in wanted)
    # Only column names from the model go into the SQL; the values are parameters.
    return RawSQL(f"({sql})", tuple(wanted.values()), output_field=BooleanField())  # noqa: S611


def _cell(cells: list[str], index: int) -> str:
    if index >= len(cells):
        return ""
    text = cells[index].strip()
    if text[:1] == "'" and _ESCAPED_CELL.match(text):
        return text[1:]
    return text


# PostgreSQL takes new rows through COPY, several times faster than INSERT for big batches; ids are
# drawn from the table's sequence first so memberships can refer to the new contacts.
_CONTACT_COPY_FIELDS = (
    "id",
    "account",
    "email",
    "phone",
    "landline",
    "country_iso",
    "name",
    "surname",
    "external_id",
    "custom_fields",
    "created_at",
    "updated_at",
)


def _insert_contacts(account: Account, rows: list[_Row], now: datetime) -> list[int]:
    """Create a contact per row; their ids in row order."""
    if not rows:
        return []
    if not _postgresql():
        contacts = Contact.objects.bulk_create([_contact_for(account, row) for row in rows])
        return [contact.id for contact in contacts]
    table = Contact._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(rows)]
        )
        ids = [contact_id for (contact_id,) in cursor.fetchall()]
        values = (
            (
                contact_id,
                account.id,
                row.email,
                row.phone,
                row.landline,
                row.country_iso or row.fallback_country_iso,
                row.name,
                row.surname,
                row.external_id,
                json.dumps(row.custom),
                now,
                now,
            )
            for contact_id, row in zip(ids, rows, strict=True)
        )
        _copy(cursor, Contact, _CONTACT_COPY_FIELDS, values)
    return ids


# Contact fields an import may change; their new values travel as text arrays.
_UPDATE_FIELDS = ("email", "phone", "landline", "country_iso", "name", "surname", "external_id", "custom_fields")


def _update_contacts(contacts: list[Contact], fields: set[str], now: datetime) -> None:
    """Write the changed fields of matched contacts in one statement.

    Django's bulk_update builds a CASE per field whose cost grows with the square of the batch;
    on PostgreSQL one UPDATE ... FROM unnest(arrays) does the same in linear time.
    """
    if not contacts:
        return
    names = [name for name in _UPDATE_FIELDS if name in fields]
    if not _postgresql():
        for contact in contacts:
            contact.updated_at = now
        Contact.objects.bulk_update(contacts, [*names, "updated_at"], batch_size=UPDATE_BATCH_SIZE)
        return
    quote = connection.ops.quote_name
    columns = {name: quote(Contact._meta.get_field(name).column) for name in names}
    assignments = ", ".join(
        f"{columns[name]} = v.{columns[name]}" + ("::jsonb" if name == "custom_fields" else "") for name in names
    )
    arrays = ", ".join("%s::text[]" for _ in names)
    aliases = ", ".join(columns[name] for name in names)
    params: list[Any] = [now, [contact.id for contact in contacts]]
    for name in names:
        if name == "custom_fields":
            params.append([json.dumps(contact.custom_fields) for contact in contacts])
        else:
            params.append([getattr(contact, name) for contact in contacts])
    table = quote(Contact._meta.db_table)
    updated_at = quote(Contact._meta.get_field("updated_at").column)
    # Only column and table names from the model go into the SQL; the values are parameters.
    statement = (
        f"UPDATE {table} AS c SET {assignments}, {updated_at} = %s "  # noqa: S608
        f"FROM unnest(%s::bigint[], {arrays}) AS v(id, {aliases}) WHERE c.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
    for contact in contacts:
        contact.updated_at = now


def _contact_for(account: Account, row: _Row) -> Contact:
    return Contact(
        account=account,
        email=row.email,
        phone=row.phone,
        landline=row.landline,
        country_iso=row.country_iso or row.fallback_country_iso,
        name=row.name,
        surname=row.surname,
        external_id=row.external_id,
        custom_fields=row.custom,
    )


def _insert_memberships(contact_ids: list[int], group_ids: list[int], now: datetime, *, fresh: bool) -> None:
    """Add the contacts to the groups; `fresh` contacts were just created, so none is a member yet."""
    if not contact_ids or not group_ids:
        return
    if not _postgresql():
        Membership.objects.bulk_create(
            [Membership(contact_id=c, group_id=g) for c in contact_ids for g in group_ids],
            ignore_conflicts=True,
            batch_size=5000,
        )
        return
    with connection.cursor() as cursor:
        if fresh:
            pairs = ((contact_id, group_id, now) for contact_id in contact_ids for group_id in group_ids)
            _copy(cursor, Membership, ("contact", "group", "created_at"), pairs)
            return
        quote = connection.ops.quote_name
        meta = Membership._meta
        columns = ", ".join(quote(meta.get_field(name).column) for name in ("contact", "group", "created_at"))
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608 - names from the model only
            "SELECT c, g, %s FROM unnest(%s::bigint[]) AS c CROSS JOIN unnest(%s::bigint[]) AS g "
            "ON CONFLICT DO NOTHING",
            [now, contact_ids, group_ids],
        )


def _postgresql() -> bool:
    """Whether the set-based PostgreSQL statements (COPY, unnest, ANY) can be used; other databases
    (the SQLite quick start) get Django's portable bulk operations."""
    return connection.vendor == "postgresql"


def _copy(cursor: Any, model: type[Model], field_names: Sequence[str], rows: Iterable[tuple]) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in field_names)
    # The raw psycopg cursor raises psycopg's exceptions; wrapping gives Django's DatabaseError family.
    with (
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _landline_only(row: _Row) -> bool:
    return bool(row.landline and not row.phone and not row.email and not row.errors)


def _region_of(digits: str | None) -> str | None:
    if not digits:
        return None
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse("+" + digits)) or None
    except phonenumbers.NumberParseException:
        return None


def _apply_row(contact: Contact, row: _Row) -> list[str]:
    """Set the row's non-empty values on a matched contact; the names of the fields that changed."""
    changed: list[str] = []
    for attribute in ("email", "phone", "landline", "country_iso", "name", "surname", "external_id"):
        value = getattr(row, attribute)
        if value is not None and value != getattr(contact, attribute):
            setattr(contact, attribute, value)
            changed.append(attribute)
    if not contact.country_iso and row.fallback_country_iso:
        contact.country_iso = row.fallback_country_iso
        changed.append("country_iso")
    if row.custom:
        merged = {**(contact.custom_fields or {}), **row.custom}
        if merged != contact.custom_fields:
            contact.custom_fields = merged
            changed.append("custom_fields")
    return changed
