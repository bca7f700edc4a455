"""Dashboard, compose page and its JSON endpoints, and the settings pages, timed with 100,000
contacts and 1,000,000 messages in the database (the data set of bench_web_pages.py, built the same
way in a throwaway database `bench_web_<name>`).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/campaigns python bench/bench_compose_pages.py

Options: --contacts N (default 100,000), --messages N (default 1,000,000), --repeat N (default 15).

Printed per page: median and slowest of N requests through Django's test client, and the SQL
queries of one request. In the same run:
- naive baseline: the dashboard's "messages per day by channel" counted over Message rows (what
  the page would cost without the Sending totals), and the group audience counted in Python;
- floor: the sign-in page, which runs no query.
Target: every page and endpoint < 200 ms.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_web_pages import TARGET_MS, _setup_django, seed, timed, timed_call


def timed_post(client, url: str, data: dict, repeat: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    durations = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.post(url, data)
            durations.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:200]!r}")
        queries = len(captured)
    return statistics.median(durations), max(durations), queries


def naive_figures(account_id: int, group_id: int) -> list[tuple[str, float]]:
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    from contacts.models import BlacklistEntry, Contact
    from messaging.models import Message

    def per_day_over_messages() -> None:
        list(
            Message.objects.filter(account_id=account_id)
            .annotate(day=TruncDate("created_at"))
            .values("day", "channel")
            .annotate(n=Count("id"))
        )

    def audience_in_python() -> None:
        listed = set(
            BlacklistEntry.objects.filter(account_id=account_id, type="sms").values_list("recipient", flat=True)
        )
        phones = Contact.objects.filter(account_id=account_id, groups=group_id, phone__isnull=False).values_list(
            "phone", flat=True
        )
        sum(1 for phone in phones.iterator(chunk_size=5000) if phone not in listed)

    return [
        ("messages per day, COUNT over messages", timed_call(per_day_over_messages, repeat=3)),
        ("group audience counted in Python", timed_call(audience_in_python, repeat=3)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    _setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from contacts.models import Contact, Group

    if connection.vendor != "postgresql":
        raise SystemExit("This benchmark measures PostgreSQL: set DATABASE_URL=postgres://...")
    name = f"bench_web_{settings.DATABASES['default']['NAME']}"[:63]
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = name
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        print(f"database {database}: seeding {args.contacts:,} contacts and {args.messages:,} messages ...", flush=True)
        started = time.perf_counter()
        data = seed(args.contacts, args.messages)
        print(f"  seeded in {time.perf_counter() - started:.1f} s")
        user = User.objects.get(pk=data["user_id"])
        account = user.account
        everyone = Group.objects.filter(account=account).order_by("id").first()
        contact_id = data["contact_id"]
        phone = Contact.objects.get(pk=contact_id).phone
        client = Client()
        client.force_login(user)
        message = "Hola {name|capitalize}, ofertas en {city} esta semana ✓"
        gets = [
            ("/", "dashboard"),
            ("/compose/", "compose page"),
            ("/compose/contacts/?q=Surname7777", "contact search by name"),
            (f"/compose/contacts/?q={phone}", "contact search by phone"),
            ("/settings/", "settings overview"),
            ("/settings/providers/", "settings: providers"),
        ]
        posts = [
            ("/compose/audience/", {"channel": "sms", "groups": [str(everyone.pk)]}, "audience: group of everyone"),
            ("/compose/audience/", {"channel": "sms", "groups": [str(data["group_id"])]}, "audience: 10% group"),
            ("/compose/audience/", {"channel": "sms", "all_contacts": "on"}, "audience: all contacts"),
            (
                "/compose/audience/",
                {"channel": "sms", "pasted": "\n".join(f"34600{i:06d}" for i in range(0, 100_000, 100))},
                "audience: 1,000 typed numbers",
            ),
            (
                "/compose/preview/",
                {"channel": "sms", "message": message, "encoding": "auto", "sample": f"c{contact_id}"},
                "preview + SMS counter",
            ),
        ]
        client.get("/")  # warm imports and templates
        floor = timed(Client(), "/login/", args.repeat)[0]
        print()
        print(f"{'page':<40}{'median ms':>10}{'max ms':>9}{'queries':>9}   < {TARGET_MS:.0f} ms")
        for url, label in gets:
            median, slowest, queries = timed(client, url, args.repeat)
            print(f"{label:<40}{median:>10.1f}{slowest:>9.1f}{queries:>9}   {'yes' if median < TARGET_MS else 'NO'}")
        for url, body, label in posts:
            median, slowest, queries = timed_post(client, url, body, args.repeat)
            print(f"{label:<40}{median:>10.1f}{slowest:>9.1f}{queries:>9}   {'yes' if median < TARGET_MS else 'NO'}")
        print(f"{'floor: sign-in page (no query)':<40}{floor:>10.1f}")
        print()
        print("naive baseline, same rows:")
        for label, value in naive_figures(account.pk, everyone.pk):
            print(f"  {label:<38}{value:>10.1f} ms")
    finally:
        connection.creation.destroy_test_db(database, verbosity=0)


if __name__ == "__main__":
    main()
