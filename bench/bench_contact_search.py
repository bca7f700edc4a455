"""Contact free-text search (contacts.selectors.contact_search) with and without its trigram index.

Run from the repository root with the PostgreSQL to measure on (the script creates and drops its
own throwaway database `bench_search_<name>` next to it, so nothing of yours is touched):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/campaigns python bench/bench_contact_search.py

Options: --contacts N per account (default 100,000), --accounts N (default 2), --repeat N.

Data: N contacts in each account (name from ten first names, surname `Surname<i>`, an external id
`EXT<i>` on every other contact), written with COPY. Each search is the contact list's first page
(`contact_search(...)` ordered by id, 51 rows), in the same run:
- ours: with the pg_trgm GIN index of migration contacts/0002;
- naive: the same query with the index dropped inside a rolled-back transaction (what it was);
- limit: a whole email found through the unique (account, email) index, the least any search costs.
The EXPLAIN of each search with the index is printed, to show which plan PostgreSQL takes.
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The same timing as the pages benchmark: the median of `repeat` calls, in ms.
from bench_web_pages import timed_call  # noqa: E402

NAMES = ["Ana", "Luis", "Marta", "Jorge", "Lucia", "Pablo", "Elena", "Carlos", "Sara", "David"]
SEARCHES = [
    ("Surname77777", "rare: one surname"),
    ("EXT1234", "rare: an external id prefix"),
    ("zzqx", "nothing matches"),
    ("marta", "common: 10% of the contacts"),
]
INDEX = "contact_search_trgm"


def seed(accounts: int, contacts: int) -> list[int]:
    from decimal import Decimal

    from django.db import connection

    from accounts.models import Account
    from contacts.models import Contact

    ids = []
    table = Contact._meta.db_table
    with connection.cursor() as cursor:
        for number in range(accounts):
            account = Account.objects.create(name=f"Bench search {number}", balance=Decimal("0"))
            ids.append(account.pk)
            with cursor.cursor.copy(
                f"COPY {table} (account_id, phone, email, country_iso, name, surname, external_id, custom_fields, "
                "created_at, updated_at) FROM STDIN"
            ) as copy:
                for index in range(contacts):
                    external = f"EXT{index}" if index % 2 else "\\N"
                    copy.write(
                        f"{account.pk}\t34600{index:06d}\tperson{index}@example.com\tES\t{NAMES[index % 10]}\t"
                        f"Surname{index}\t{external}\t{{}}\t2026-01-01T00:00:00+00:00\t2026-01-01T00:00:00+00:00\n"
                    )
        cursor.execute("VACUUM ANALYZE")
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    import django
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    django.setup()
    from django.db import connection, transaction

    from accounts.models import Account
    from contacts.selectors import contact_search

    if connection.vendor != "postgresql":
        raise SystemExit("This benchmark measures PostgreSQL: set DATABASE_URL=postgres://...")
    name = settings.DATABASES["default"]["NAME"]
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"bench_search_{name}"[:63]
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        print(f"database {database}: {args.accounts} accounts x {args.contacts:,} contacts ...", flush=True)
        account = Account.objects.get(pk=seed(args.accounts, args.contacts)[0])

        def first_page(text: str):
            return lambda: list(contact_search(account=account, query=text).order_by("id")[:51])

        limit = timed_call(first_page(f"person{args.contacts // 2}@example.com"), args.repeat)
        print(f"\n{'search (first page, 51 rows)':<44}{'ours ms':>9}{'naive ms':>10}{'naive/ours':>12}")
        for text, label in SEARCHES:
            ours = timed_call(first_page(text), args.repeat)
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(f"DROP INDEX {INDEX}")
                naive = timed_call(first_page(text), args.repeat)
                transaction.set_rollback(True)
            print(f"{text + ' (' + label + ')':<44}{ours:>9.2f}{naive:>10.2f}{naive / ours:>11.1f}x")
        print(f"{'limit: whole email, unique index':<44}{limit:>9.2f}")
        print("\nplans with the index:")
        for text, _label in SEARCHES:
            plan = contact_search(account=account, query=text).order_by("id")[:51].explain()
            print(f"-- {text}\n" + "\n".join("   " + line for line in plan.splitlines()))
    finally:
        connection.creation.destroy_test_db(database, verbosity=0)


if __name__ == "__main__":
    main()
