"""Email validation jobs as the REST API's JSON objects and CSV (the spec's samples)."""

import csv
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Final

from django.urls import reverse

from config.api import iso8601
from contacts.exporting import csv_safe
from validation.models import EmailValidation, ValidationStatus

CSV_HEADER: Final = ("email", "result")
CSV_ROWS_PER_CHUNK: Final = 1000


def result_path(validation_id: int) -> str:
    return reverse("api-email-validation-result", kwargs={"validation_id": validation_id})


def email_validation_to_dict(
    validation: EmailValidation, *, absolute_url: Callable[[str], str], with_error: bool = False
) -> dict:
    """The spec's validation object; `with_error` adds the notifications' `error` ("" unless failed).

    `resultUrl` exists only once the job has finished, as in the samples.
    """
    finished = validation.status == ValidationStatus.FINISHED
    data = {
        "id": validation.pk,
        "status": validation.status,
        "total": validation.total,
        "processed": validation.processed,
        "valid": validation.valid,
        "estimatedCost": money(validation.estimated_cost),
        "cost": money(validation.cost),
        "currency": validation.currency,
        "createdAt": iso8601(validation.created_at),
        "updatedAt": iso8601(validation.updated_at),
        "finishedAt": iso8601(validation.finished_at),
        "resultUrl": absolute_url(result_path(validation.pk)) if finished else None,
    }
    if with_error:
        data["error"] = validation.error
    return data


def money(value: Decimal) -> int | float:
    """A JSON number without trailing zeros: 0.0035, 0.007, and 0 (not 0.0) as in the samples."""
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value.normalize())


class _Line:
    """A file-like object for csv.writer that hands back what it is given."""

    def write(self, value: str) -> str:
        return value


def results_csv(rows: Iterable[tuple[str, str]]) -> Iterator[str]:
    """`email;result` then one line per address, in pieces of CSV_ROWS_PER_CHUNK lines."""
    writer = csv.writer(_Line(), delimiter=";", lineterminator="\n")
    yield writer.writerow(CSV_HEADER)
    lines: list[str] = []
    for email, result in rows:
        lines.append(writer.writerow((csv_safe(email), result)))
        if len(lines) >= CSV_ROWS_PER_CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
