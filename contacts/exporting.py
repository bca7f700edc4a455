"""Contact exports as CSV (streamed) and XLSX, in columns the import reads back.

Columns: id, email, phone, landline, countryIso, name, surname, externalId, groups (names joined by
"|"), then one column per custom-field key of the exported contacts' accounts, headed by the key, then
the consent per channel (`consent_sms`, `consent_mailing`, `consent_voice`, `consent_whatsapp`: opted_in,
opted_out, unknown, or empty where nothing is recorded; the import's mapping targets of the same names).
Contacts are read with iterator(chunk_size) and their groups prefetched per chunk, so an export of
a million contacts holds one chunk in memory and runs two queries per chunk (the consents are indexed
subqueries of the contacts' query, on the unique (contact, channel) index).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from typing import IO, Literal

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from compliance.models import ConsentChannel, ContactConsent
from contacts.models import Contact, CustomField, Group

EXPORT_CHUNK_SIZE = 2000
BASE_COLUMNS = ("id", "email", "phone", "landline", "countryIso", "name", "surname", "externalId", "groups")
CONSENT_COLUMN_PREFIX = "consent_"
CONSENT_COLUMNS = tuple(f"{CONSENT_COLUMN_PREFIX}{channel}" for channel in ConsentChannel.values)
GROUP_SEPARATOR = "|"
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); a leading quote
# makes it text. The import drops that quote again.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

ExportFormat = Literal["csv", "xlsx"]
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_TRIGGERS) else value


def export_custom_keys(queryset: QuerySet[Contact]) -> list[str]:
    """Custom-field keys defined by the accounts of the exported contacts, in key order."""
    account_ids = queryset.order_by().values("account_id")
    keys = CustomField.objects.filter(account_id__in=account_ids).values_list("key", flat=True)
    return sorted(set(keys))


def contacts_export_rows(*, queryset: QuerySet[Contact]) -> Iterator[list[str | int]]:
    """The header, then one row per contact, as plain values (no escaping)."""
    custom_keys = export_custom_keys(queryset)
    yield [*BASE_COLUMNS, *custom_keys, *CONSENT_COLUMNS]
    # select_related(None): an admin changelist's queryset joins relations that only() would defer.
    contacts = (
        queryset.select_related(None)
        .prefetch_related(None)
        .only("id", "email", "phone", "landline", "country_iso", "name", "surname", "external_id", "custom_fields")
        .prefetch_related(Prefetch("groups", queryset=Group.objects.only("id", "name").order_by("id")))
        .annotate(**_consent_annotations())
    )
    for contact in contacts.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        custom = contact.custom_fields or {}
        yield [
            contact.id,
            contact.email or "",
            contact.phone or "",
            contact.landline or "",
            contact.country_iso or "",
            contact.name or "",
            contact.surname or "",
            contact.external_id or "",
            GROUP_SEPARATOR.join(group.name for group in contact.groups.all()),
            *(str(custom.get(key, "")) for key in custom_keys),
            *(getattr(contact, column) or "" for column in CONSENT_COLUMNS),
        ]


def _consent_annotations() -> dict[str, Subquery]:
    return {
        f"{CONSENT_COLUMN_PREFIX}{channel}": Subquery(
            ContactConsent.objects.filter(contact=OuterRef("pk"), channel=channel).values("status")[:1]
        )
        for channel in ConsentChannel.values
    }


class _LineBuffer:
    """csv.writer target that hands back each written line instead of storing it."""

    def write(self, text: str) -> str:
        return text


def contacts_export_csv_chunks(*, queryset: QuerySet[Contact]) -> Iterator[str]:
    """CSV text (UTF-8 with BOM, so spreadsheet programs read accents right), a line at a time."""
    writer = csv.writer(_LineBuffer())
    yield "\ufeff"
    for row in contacts_export_rows(queryset=queryset):
        yield writer.writerow([cell if isinstance(cell, int) else csv_safe(cell) for cell in row])


def contacts_export_xlsx(*, queryset: QuerySet[Contact], output: IO[bytes]) -> None:
    """Write an XLSX workbook (write-only mode: rows go to a temporary file, not to memory)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Contacts")
    for row in contacts_export_rows(queryset=queryset):
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    workbook.save(output)


def _xlsx_cell(sheet: object, value: str | int) -> WriteOnlyCell | int:
    if isinstance(value, int):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    # openpyxl stores a string starting with "=" as a formula; every exported value is data.
    cell.data_type = "s"
    return cell


def contacts_export_write(*, queryset: QuerySet[Contact], file_format: ExportFormat, output: IO[bytes]) -> None:
    """Write the export to a binary file (management command, scripts)."""
    if file_format == "xlsx":
        contacts_export_xlsx(queryset=queryset, output=output)
        return
    for chunk in contacts_export_csv_chunks(queryset=queryset):
        output.write(chunk.encode("utf-8"))


def contacts_export_response(
    *, queryset: QuerySet[Contact], file_format: ExportFormat, filename: str | None = None
) -> StreamingHttpResponse:
    """A download of the contacts: CSV streamed row by row, XLSX built in a temporary file and streamed."""
    if file_format not in ("csv", "xlsx"):
        raise ValueError(f"Unknown export format {file_format!r}; use csv or xlsx.")
    name = filename or f"contacts-{timezone.now():%Y%m%d-%H%M%S}.{file_format}"
    if file_format == "csv":
        response = StreamingHttpResponse(
            contacts_export_csv_chunks(queryset=queryset), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    # FileResponse closes the file once it has been sent.
    output = tempfile.TemporaryFile()
    contacts_export_xlsx(queryset=queryset, output=output)
    output.seek(0)
    return FileResponse(output, as_attachment=True, filename=name, content_type=XLSX_CONTENT_TYPE)
