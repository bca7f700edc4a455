"""Staff web pages at scale: every campaigns / contacts page timed with 100,000 contacts and
1,000,000 messages in the database.

Run from the repository root with the PostgreSQL to measure on (the script creates and drops its
own throwaway database `bench_web_<name>` next to it, so nothing of yours is touched):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/campaigns python bench/bench_web_pages.py

Options: --contacts N (default 100,000), --messages N (default 1,000,000), --repeat N (requests
per page, default 15), --keep (keep the database).

Data (written with COPY and INSERT ... SELECT, about a minute): one account with N contacts (name,
email, phone, two custom fields), 10 groups (everyone in the first), 1% of phones blacklisted;
200 campaigns; one big sending holding 60% of the messages with `sent` + `delivered` events for
each (so about 1.2 million events) and its counters; 199 small sendings share the rest; 10,000 of
the messages are scheduled.

What is printed, per page: the median and the slowest of N requests through Django's test client
(full request: middleware, session, view, template), and the number of SQL queries. The sending
page is timed with its events chart not cached (the page queues the chart task and says "being
prepared") and cached; the chart task (grouping the big sending's events per hour) is timed on its
own, as a django-q2 worker runs it, off the page. In the same run:
- naive baseline: the same lists the usual Django way (Paginator: COUNT(*) + OFFSET, counters by
  COUNT over events), on the same rows;
- floor: the sign-in page, which runs no query: what any page costs before it reads data.
Target: every page < 200 ms.
"""

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TARGET_MS = 200.0
NAMES = ["Ana", "Luis", "Marta", "Jorge", "Lucia", "Pablo", "Elena", "Carlos", "Sara", "David"]
CITIES = ["Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Zaragoza", "Malaga", "Murcia"]


def _setup_django() -> None:
    import django
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False
    django.setup()


# ---------------------------------------------------------------------------------------------
# Data


def seed(contacts: int, messages: int) -> dict:
    from django.db import connection

    from accounts.models import Account, User
    from campaigns.models import Campaign, Sending
    from contacts.models import BlacklistEntry, Contact, CustomField, Group, Membership
    from messaging.models import Event, Message

    account = Account.objects.create(name="Bench web", balance=Decimal("1000000"), timezone="Europe/Madrid")
    user = User.objects.create_user(username="bench-web", password="x", account=account)
    CustomField.objects.create(account=account, key="city", type="string")
    CustomField.objects.create(account=account, key="plan", type="string")
    groups = [Group.objects.create(account=account, name=f"Group {index}") for index in range(10)]
    now = "2026-01-01T00:00:00+00:00"
    contact_table, message_table = Contact._meta.db_table, Message._meta.db_table
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            f"COPY {contact_table} (account_id, phone, email, country_iso, name, surname, custom_fields, "
            "created_at, updated_at) FROM STDIN"
        ) as copy:
            for index in range(contacts):
                copy.write(
                    f"{account.pk}\t34600{index:06d}\tperson{index}@example.com\tES\t{NAMES[index % 10]}\t"
                    f'Surname{index}\t{{"city": "{CITIES[index % 8]}", "plan": "p{index % 3}"}}\t{now}\t{now}\n'
                )
        cursor.execute(
            f"INSERT INTO {Membership._meta.db_table} (contact_id, group_id, created_at) "
            f"SELECT id, %s, now() FROM {contact_table} WHERE account_id = %s",
            [groups[0].pk, account.pk],
        )
        for group in groups[1:]:
            cursor.execute(
                f"INSERT INTO {Membership._meta.db_table} (contact_id, group_id, created_at) "
                f"SELECT id, %s, now() FROM {contact_table} WHERE account_id = %s AND id %% 10 = %s",
                [group.pk, account.pk, group.pk % 10],
            )
        cursor.execute(
            f"INSERT INTO {BlacklistEntry._meta.db_table} (account_id, type, recipient, is_definitive, created_at) "
            f"SELECT account_id, 'sms', phone, false, now() FROM {contact_table} "
            "WHERE account_id = %s AND id %% 100 = 0",
            [account.pk],
        )
        campaigns = Campaign.objects.bulk_create(
            [Campaign(account=account, name=f"Campaign {index:03d}") for index in range(200)]
        )
        big_total = int(messages * 0.6)
        small_total = (messages - big_total) // 199
        sendings = Sending.objects.bulk_create(
            [
                Sending(
                    account=account,
                    campaign=campaign,
                    channel="sms",
                    status="FINISHED",
                    total=big_total if index == 0 else small_total,
                    processed=big_total if index == 0 else small_total,
                )
                for index, campaign in enumerate(campaigns)
            ]
        )
        big = sendings[0]
        # Messages: the big sending's first, then each small one; recipients cycle over the contacts.
        offset = 0
        for index, sending in enumerate(sendings):
            count = big_total if index == 0 else small_total
            scheduled = index == len(sendings) - 1
            cursor.execute(
                f"INSERT INTO {message_table} (public_id, account_id, sending_id, contact_id, channel, sender, "
                "recipient, subject, body, encoding, parts, options, status, scheduled_at, due_at, attempts, "
                "claim_token, provider, provider_message_id, error_code, error_reason, cost, notification_url, "
                "certified, created_at, updated_at, sent_at) "
                "SELECT 'b' || lpad(to_hex(%s + n), 12, '0'), %s, %s, c.id, 'sms', 'BENCH', c.phone, '', "
                "'Hola ' || c.name || ', ofertas esta semana.', 'gsm', 1, '{}', "
                "CASE WHEN %s THEN 'scheduled' ELSE 'delivered' END, "
                "CASE WHEN %s THEN now() + interval '7 days' END, now() + interval '7 days', 1, '', 'simulator', "
                "'sim-' || (%s + n), '', '', 0.045, '', false, "
                "now() - interval '2 days' + (n * interval '100 ms'), now(), "
                "CASE WHEN %s THEN NULL ELSE now() - interval '2 days' + (n * interval '100 ms') END "
                f"FROM generate_series(0, %s - 1) AS n JOIN {contact_table} c "
                "ON c.account_id = %s AND c.id = (SELECT min(id) FROM contacts_contact) + (n %% %s)",
                [offset, account.pk, sending.pk, scheduled, scheduled, offset, scheduled, count, account.pk, contacts],
            )
            offset += count
        for event_type, delay in (("sent", "0 seconds"), ("delivered", "5 seconds")):
            cursor.execute(
                f"INSERT INTO {Event._meta.db_table} (account_id, message_id, sending_id, type, date, extra, browser, "
                "os, is_mobile, url, provider, provider_event_id, created_at) "
                f"SELECT account_id, id, sending_id, %s, sent_at + interval '{delay}', '{{}}', '', '', false, '', "
                f"'simulator', provider_message_id || ':' || %s, now() FROM {message_table} WHERE sending_id = %s",
                [event_type, event_type, big.pk],
            )
        Sending.objects.filter(pk=big.pk).update(sent=big_total, delivered=big_total)
        cursor.execute("VACUUM ANALYZE")
    contact_ids = list(Contact.objects.filter(account=account).order_by("id").values_list("id", flat=True)[::1000])
    return {
        "user_id": user.pk,
        "big_sending": big.pk,
        "small_sending": sendings[1].pk,
        "group_id": groups[3].pk,
        "contact_id": contact_ids[len(contact_ids) // 2],
        "deep_contact": contact_ids[-2],
        "deep_message": Message.objects.filter(sending=big).order_by("-id").values_list("id", flat=True)[1000],
    }


# ---------------------------------------------------------------------------------------------
# Timing


def timed(client, url: str, repeat: int) -> tuple[float, float, int]:
    """(median ms, slowest ms, queries of the last request) over `repeat` requests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    durations = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            durations.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        queries = len(captured)
    return statistics.median(durations), max(durations), queries


def timed_call(function, repeat: int = 5) -> float:
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        durations.append((time.perf_counter() - started) * 1000)
    return statistics.median(durations)


def naive_figures(data: dict) -> list[tuple[str, float]]:
    """The same reads done the usual way, on the same rows."""
    from django.core.paginator import Paginator
    from django.db.models import Count

    from contacts.models import Contact
    from messaging.models import Event, Message

    big = data["big_sending"]

    def contacts_page_500() -> None:
        paginator = Paginator(Contact.objects.order_by("id"), 50)
        list(paginator.page(min(500, paginator.num_pages)).object_list)

    def messages_page_deep() -> None:
        paginator = Paginator(Message.objects.filter(sending_id=big).order_by("id"), 25)
        list(paginator.page(paginator.num_pages - 40).object_list)

    def counters_by_count() -> None:
        list(Event.objects.filter(sending_id=big).values("type").annotate(n=Count("id")))

    return [
        ("contacts page 500 (COUNT + OFFSET)", timed_call(contacts_page_500)),
        ("messages deep page (COUNT + OFFSET)", timed_call(messages_page_deep)),
        ("14 counters by COUNT over events", timed_call(counters_by_count)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    _setup_django()
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from accounts.models import User

    if connection.vendor != "postgresql":
        raise SystemExit("This benchmark measures PostgreSQL: set DATABASE_URL=postgres://...")
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"bench_web_{settings.DATABASES['default']['NAME']}"[
        :63
    ]
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        print(f"database {database}: seeding {args.contacts:,} contacts and {args.messages:,} messages ...", flush=True)
        started = time.perf_counter()
        data = seed(args.contacts, args.messages)
        print(f"  seeded in {time.perf_counter() - started:.1f} s")
        client = Client()
        client.force_login(User.objects.get(pk=data["user_id"]))
        big, contact_id = data["big_sending"], data["contact_id"]
        pages = [
            ("/campaigns/", "campaign list"),
            ("/campaigns/?name=Campaign+1*&channel=sms", "campaign list, filtered"),
            ("/campaigns/sendings/", "sending list"),
            (f"/campaigns/sendings/{big}/", "big sending page, chart cached"),
            (f"/campaigns/sendings/{big}/?after={data['deep_message']}", "big sending, deep messages page"),
            (f"/campaigns/sendings/{big}/?recipient=34600050000", "big sending, recipient search"),
            (f"/campaigns/sendings/{big}/status.json", "sending status.json"),
            (f"/campaigns/sendings/{data['small_sending']}/", "small sending page"),
            ("/campaigns/scheduled/", "scheduled list"),
            ("/campaigns/scheduled/?page=100", "scheduled list page 100"),
            ("/contacts/", "contact list"),
            (f"/contacts/?after={data['deep_contact']}", "contact list, last pages"),
            ("/contacts/?q=person77777%40example.com", "contact search by email"),
            ("/contacts/?q=%2B34600077777", "contact search by phone"),
            ("/contacts/?q=Surname9999", "contact search by name"),
            (f"/contacts/?group={data['group_id']}", "contacts of a group"),
            (f"/contacts/{contact_id}/", "contact page with history"),
            (f"/contacts/{contact_id}/edit/", "contact edit form"),
            ("/contacts/groups/", "groups with sizes"),
            ("/contacts/blacklists/sms/", "sms blacklist"),
            ("/contacts/import/", "import upload"),
        ]
        # The chart task runs here, timed, instead of in a django-q2 worker.
        import django_q.tasks

        from campaigns.tasks import sending_chart_refresh

        queued: list[tuple] = []
        django_q.tasks.async_task = lambda func, *task_args, **kwargs: queued.append((func, *task_args))
        # Warm the process (imports, compiled templates) on another sending, then empty the cache.
        client.get(f"/campaigns/sendings/{data['small_sending']}/")
        cache.clear()
        cold_ms = timed(client, f"/campaigns/sendings/{big}/", 1)[0]
        assert queued and queued[-1][0] == "campaigns.tasks.sending_chart_refresh", queued
        task_ms = timed_call(lambda: sending_chart_refresh(*queued[-1][1:]), repeat=3)
        floor = timed(Client(), "/login/", args.repeat)[0]

        print()
        print(f"{'page':<40}{'median ms':>10}{'max ms':>9}{'queries':>9}   < {TARGET_MS:.0f} ms")
        print(
            f"{'big sending page, chart not cached':<40}{cold_ms:>10.1f}{'':>9}{'':>9}   "
            f"{'yes' if cold_ms < TARGET_MS else 'NO'}   (queues the chart task)"
        )
        worst = cold_ms
        for url, label in pages:
            median, slowest, queries = timed(client, url, args.repeat)
            worst = max(worst, median)
            print(f"{label:<40}{median:>10.1f}{slowest:>9.1f}{queries:>9}   {'yes' if median < TARGET_MS else 'NO'}")
        print(f"{'floor: sign-in page (no query)':<40}{floor:>10.1f}")
        events = 2 * int(args.messages * 0.6)
        print(f"{'chart task (django-q2 worker, off-page)':<40}{task_ms:>10.1f}   groups {events:,} events per hour")
        print()
        print(f"{'naive baseline on the same rows':<40}{'median ms':>10}")
        for label, ms in naive_figures(data):
            print(f"{label:<40}{ms:>10.1f}")
        print(f"\ntarget: every page median < {TARGET_MS:.0f} ms: {'met' if worst < TARGET_MS else 'NOT met'}")
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(database, verbosity=0)


if __name__ == "__main__":
    main()
