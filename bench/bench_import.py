"""Contact import speed: `python bench/bench_import.py` (DATABASE_URL must point at PostgreSQL).

Generates a CSV of BENCH_IMPORT_ROWS rows (default 100,000: phone, email, country, name, surname and
two custom fields), imports it into a throwaway account through the real service
(contact_import_create + contact_import_run, one group as target) and prints its speed next to:

- a naive baseline measured in the same run: the same normalisation, then one ORM create per
  contact and per membership, on a 2,000-row sample (inside one transaction, its best case),
  extrapolated to the whole file;
- a physical ceiling: psycopg COPY of the same file into a temporary table (no normalisation, no
  indexes, no constraints), the fastest the database accepts these bytes; and that ceiling plus the
  phone and email normalisation every import must do (measured on the sample, extrapolated), which
  is the floor for any import applying the platform's rules in this process.

Everything it creates (accounts, contacts, the stored upload, the temporary CSV) is removed at the end.
"""

import csv
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The throwaway upload is stored under a temporary media root, removed at the end.
MEDIA_ROOT = tempfile.mkdtemp(prefix="bench-import-media-")
os.environ["MEDIA_ROOT"] = MEDIA_ROOT

import django  # noqa: E402

django.setup()

from django.core.files import File  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from accounts.models import Account  # noqa: E402
from contacts.custom_fields import coerce_custom_value  # noqa: E402
from contacts.importing import contact_import_create, contact_import_run  # noqa: E402
from contacts.models import Contact, CustomField, Group, ImportStatus, Membership  # noqa: E402
from contacts.normalize import normalise_email, normalise_phone  # noqa: E402

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
SAMPLE_ROWS = 2000
# Normalisation alone is cheap to measure, so a bigger sample keeps its figure steady.
NORMALISATION_SAMPLE_ROWS = 10000
HEADER = ["Phone", "E-mail", "Country", "First name", "Last name", "Colour", "Spent"]
MAPPING = {
    "Phone": "phone",
    "E-mail": "email",
    "Country": "countryIso",
    "First name": "name",
    "Last name": "surname",
    "Colour": "custom:colour",
    "Spent": "custom:spent:decimal",
}
COLOURS = ["red", "green", "blue", "yellow", "black"]


def generate_rows(count: int) -> list[list[str]]:
    # Spanish mobile numbers 6xxxxxxxx written nationally, so every row goes through phonenumbers.
    return [
        [
            f"6{index:08d}",
            f"User.{index}@Example.com",
            "ES",
            f"Name {index}",
            f"Surname {index % 977}",
            COLOURS[index % len(COLOURS)],
            f"{index % 1000}.{index % 100:02d}",
        ]
        for index in range(count)
    ]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def throwaway_account(label: str) -> Account:
    return Account.objects.create(name=f"bench-import-{label}-{uuid.uuid4().hex[:8]}")


def measure_import(account: Account, path: Path) -> tuple[float, int]:
    group = Group.objects.create(account=account, name="Imported")
    with path.open("rb") as stream:
        contact_import = contact_import_create(
            account=account,
            created_by=None,
            uploaded_file=File(stream, name="bench.csv"),
            mapping=MAPPING,
            group_ids=[group.id],
            default_country_iso="",
        )
    started = time.perf_counter()
    contact_import_run(contact_import=contact_import)
    elapsed = time.perf_counter() - started
    if contact_import.status != ImportStatus.FINISHED:
        raise SystemExit(f"import failed: {contact_import.fatal_error}")
    members = Membership.objects.filter(group=group).count()
    if contact_import.created_count != ROWS or members != ROWS:
        raise SystemExit(f"import created {contact_import.created_count} contacts, {members} members; expected {ROWS}")
    contact_import.file.delete(save=False)
    return elapsed, contact_import.created_count


def measure_naive(account: Account, rows: list[list[str]]) -> float:
    """Per-row ORM writes after the same normalisation, in one transaction."""
    group = Group.objects.create(account=account, name="Imported")
    CustomField.objects.create(account=account, key="colour", type="string")
    CustomField.objects.create(account=account, key="spent", type="decimal")
    started = time.perf_counter()
    with transaction.atomic():
        for phone, email, country, name, surname, colour, spent in rows:
            contact = Contact.objects.create(
                account=account,
                phone=normalise_phone(phone, country),
                email=normalise_email(email),
                country_iso=country,
                name=name,
                surname=surname,
                custom_fields={
                    "colour": coerce_custom_value("string", colour),
                    "spent": coerce_custom_value("decimal", spent),
                },
            )
            Membership.objects.create(contact=contact, group=group)
    return time.perf_counter() - started


def measure_normalisation(rows: list[list[str]]) -> float:
    started = time.perf_counter()
    for phone, email, country, *_ in rows:
        normalise_phone(phone, country)
        normalise_email(email)
    return time.perf_counter() - started


def measure_copy(path: Path) -> float:
    """COPY of the raw file into a temporary table: the database's own ingest speed for these bytes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_import_copy (phone text, email text, country text, name text, "
            "surname text, colour text, spent text)"
        )
        started = time.perf_counter()
        with cursor.cursor.copy("COPY bench_import_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            with path.open("rb") as handle:
                while block := handle.read(1024 * 1024):
                    copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_import_copy")
        copied = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_import_copy")
    if copied != ROWS:
        raise SystemExit(f"COPY loaded {copied} rows, expected {ROWS}")
    return elapsed


def remove_account(account: Account) -> None:
    """Set-based removal: Account.delete() would load every contact to cascade."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Membership._meta.db_table} WHERE group_id IN "
            f"(SELECT id FROM {Group._meta.db_table} WHERE account_id = %s)",
            [account.id],
        )
        cursor.execute(f"DELETE FROM {Contact._meta.db_table} WHERE account_id = %s", [account.id])
        account.delete()


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database: the figures are meant for production's engine.")
    call_command("migrate", verbosity=0)
    rows = generate_rows(ROWS)
    accounts: list[Account] = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "contacts.csv"
        write_csv(path, rows)
        size_mb = path.stat().st_size / 1e6
        try:
            accounts.append(throwaway_account("service"))
            ours, created = measure_import(accounts[-1], path)
            accounts.append(throwaway_account("naive"))
            naive_sample = measure_naive(accounts[-1], rows[:SAMPLE_ROWS])
            naive = naive_sample * ROWS / SAMPLE_ROWS
            sample = rows[:NORMALISATION_SAMPLE_ROWS]
            normalisation = measure_normalisation(sample) * ROWS / len(sample)
            ceiling = measure_copy(path)
        finally:
            for account in accounts:
                remove_account(account)
            shutil.rmtree(MEDIA_ROOT, ignore_errors=True)

    print(f"contact import of {ROWS:,} rows ({size_mb:.1f} MB CSV, 1 target group, 2 custom fields)")
    print(f"  ours (contact_import_run):        {ours:8.2f} s  {ROWS / ours:10,.0f} rows/s  ({created:,} created)")
    print(
        f"  naive per-row ORM (extrapolated): {naive:8.2f} s  {ROWS / naive:10,.0f} rows/s  "
        f"(measured on {SAMPLE_ROWS:,} rows: {naive_sample:.2f} s)"
    )
    print(f"  physical ceiling (COPY raw CSV):  {ceiling:8.2f} s  {ROWS / ceiling:10,.0f} rows/s")
    validated_ceiling = normalisation + ceiling
    print(
        f"  ceiling with the same validation (phone+email normalisation, extrapolated, + COPY): "
        f"{validated_ceiling:.2f} s  {ROWS / validated_ceiling:,.0f} rows/s"
    )
    print(
        f"  ratios: {naive / ours:.1f}x faster than naive; {ours / ceiling:.1f}x slower than raw COPY; "
        f"{ours / validated_ceiling:.2f}x the validated ceiling"
    )


if __name__ == "__main__":
    main()
