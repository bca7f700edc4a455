"""Group-send fan-out speed: 1,000,000 contacts on PostgreSQL, measured against the alternatives.

Run from the repository root with the PostgreSQL to measure on (the script creates and drops its
own throwaway database `bench_fanout_<name>` next to it, so nothing of yours is touched):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/campaigns python bench/bench_group_send.py

Options: --contacts N (default 1,000,000), --workers N (fan-out chunk tasks run in N processes,
like a django-q2 cluster of N workers; default 2), --naive-sample N (default 5,000),
--bulk-sample N (default 100,000), --keep (keep the database).

What is measured, from the same run and the same data (group of N contacts, 1% blacklisted,
message with two variables: the contact's name and a custom field):
- ours: `sms_group_send()` (validation, Sending, chunk plan) + every fan-out chunk task
  (`fanout_chunk_run`: key-range streaming, blacklist anti-join in SQL, render, segment count,
  pricing, COPY, balance debit), wall-clock from the call to the last chunk committed;
- naive: an ORM loop (blacklist query, render, Message.objects.create per recipient) on a sample;
- bulk_create: the same rendering with Message objects written by bulk_create, on a sample;
- ceiling: one `INSERT ... SELECT` with the rendering done in SQL (no segment counting, no
  pricing): the fastest the database can take the rows.
Peak RSS is the maximum resident size of the processes that ran the fan-out.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TEMPLATE = "Hola {name}, en {city} tenemos ofertas para ti esta semana. Responde BAJA para no recibir mas."
CITIES = ["Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Zaragoza", "Malaga", "Murcia"]
NAMES = ["Ana", "Luis", "Marta", "Jorge", "Lucia", "Pablo", "Elena", "Carlos", "Sara", "David"]


def _setup_django(database_name: str | None = None) -> None:
    import django
    from django.conf import settings

    if database_name:
        settings.DATABASES["default"]["NAME"] = database_name
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    django.setup()


def _bench_database_name() -> str:
    from django.conf import settings

    return f"bench_fanout_{settings.DATABASES['default']['NAME']}"[:63]


# ---------------------------------------------------------------------------------------------
# Data


def seed(contacts: int) -> dict:
    """Account, group, `contacts` contacts (COPY), memberships, 1% of them blacklisted."""
    from django.db import connection

    from accounts.models import Account
    from contacts.models import BlacklistEntry, Contact, CustomField, Group, Membership

    account = Account.objects.create(name="Bench fan-out", balance=Decimal("100000000"))
    CustomField.objects.create(account=account, key="city", type="string")
    group = Group.objects.create(account=account, name="Everyone")
    now = "2024-01-01T00:00:00+00:00"
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            f"COPY {Contact._meta.db_table} (account_id, phone, country_iso, name, custom_fields, created_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for index in range(contacts):
                city = CITIES[index % len(CITIES)]
                copy.write(
                    f"{account.pk}\t34600{index:06d}\tES\t{NAMES[index % len(NAMES)]}\t"
                    f'{{"city": "{city}"}}\t{now}\t{now}\n'
                )
        cursor.execute(
            f"INSERT INTO {Membership._meta.db_table} (contact_id, group_id, created_at) "
            f"SELECT id, %s, now() FROM {Contact._meta.db_table} WHERE account_id = %s",
            [group.pk, account.pk],
        )
        cursor.execute(
            f"INSERT INTO {BlacklistEntry._meta.db_table} (account_id, type, recipient, is_definitive, created_at) "
            f"SELECT account_id, 'sms', phone, false, now() FROM {Contact._meta.db_table} "
            "WHERE account_id = %s AND id %% 100 = 0",
            [account.pk],
        )
        cursor.execute("ANALYZE")
    blacklisted = BlacklistEntry.objects.filter(account=account).count()
    return {"account_id": account.pk, "group_id": group.pk, "recipients": contacts - blacklisted}


def truncate_messages() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE messaging_message, campaigns_fanoutchunk CASCADE")
        cursor.execute("ANALYZE messaging_message")


# ---------------------------------------------------------------------------------------------
# Ours: group send + chunk tasks in worker processes


def run_fanout(account_id: int, group_id: int, workers: int, database: str) -> dict:
    from accounts.models import Account
    from campaigns import fanout
    from campaigns.models import FanoutChunk
    from campaigns.services import sms_group_send

    account = Account.objects.get(pk=account_id)
    # The chunk tasks run in this script's worker processes below, not through a django-q2 broker.
    fanout._enqueue_on_commit = lambda chunk_ids: None
    fanout.dispatch_kick_on_commit = lambda: None
    started = time.perf_counter()
    sending = sms_group_send(account=account, group_ids=[group_id], message=TEMPLATE, sender="BENCH")
    planned = time.perf_counter()
    chunk_ids = list(FanoutChunk.objects.filter(sending=sending).order_by("id").values_list("id", flat=True))
    # The chunks go to `workers` processes, as django-q2 hands tasks to its workers.
    shares = [chunk_ids[index::workers] for index in range(workers)]
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--run-chunks", json.dumps(share), "--database", database],
            stdout=subprocess.PIPE,
            text=True,
        )
        for share in shares
        if share
    ]
    peaks = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit("a chunk worker failed")
        peaks.append(json.loads(out.strip().splitlines()[-1])["peak_rss_mb"])
    finished = time.perf_counter()
    sending.refresh_from_db()
    return {
        "seconds": finished - started,
        "plan_seconds": planned - started,
        "messages": sending.total,
        "chunks": len(chunk_ids),
        "peak_rss_mb": max([*peaks, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]),
        "cost": sending.cost,
    }


def run_chunks(chunk_ids: list[int]) -> None:
    from campaigns import fanout

    # No dispatcher runs here: waking one (a broker message per chunk) would only pile up.
    fanout.dispatch_kick_on_commit = lambda: None
    for chunk_id in chunk_ids:
        fanout.fanout_chunk_run(chunk_id)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


# ---------------------------------------------------------------------------------------------
# Baselines


def _sample_rows(account_id: int, group_id: int, size: int) -> list[dict]:
    from contacts.models import Contact

    return list(
        Contact.objects.filter(account_id=account_id, groups__id=group_id)
        .order_by("id")
        .values("id", "phone", "country_iso", "name", "custom_fields")[:size]
    )


def _new_sending(account_id: int):
    from campaigns.models import Sending

    return Sending.objects.create(account_id=account_id, channel="sms", options={"sender": "BENCH"})


def run_naive(account_id: int, group_id: int, size: int) -> float:
    """Per recipient: a blacklist query, render, measure, Message.objects.create."""
    from django.utils import timezone

    from campaigns.fanout import public_ids_generate
    from contacts.models import BlacklistEntry, Contact
    from messaging.encoding import measure
    from messaging.models import Message
    from messaging.rendering import compile_template

    sending = _new_sending(account_id)
    template = compile_template(TEMPLATE)
    started = time.perf_counter()
    contacts = Contact.objects.filter(account_id=account_id, groups__id=group_id).order_by("id")[:size]
    for contact in contacts:
        if BlacklistEntry.objects.filter(account_id=account_id, type="sms", recipient=contact.phone).exists():
            continue
        body = template.render({"name": contact.name, **contact.custom_fields})
        sms = measure(body, "gsm")
        Message.objects.create(
            public_id=public_ids_generate(1)[0],
            account_id=account_id,
            sending=sending,
            contact=contact,
            channel="sms",
            sender="BENCH",
            recipient=contact.phone,
            body=body,
            encoding="gsm",
            parts=sms.parts,
            status="queued",
            due_at=timezone.now(),
            cost=Decimal("0.045") * sms.parts,
        )
    return size / (time.perf_counter() - started)


def run_bulk_create(account_id: int, group_id: int, size: int) -> float:
    """The same work with values() rows, the blacklist as one set, and bulk_create."""
    from django.utils import timezone

    from campaigns.fanout import public_ids_generate
    from contacts.models import BlacklistEntry
    from messaging.encoding import measure
    from messaging.models import Message
    from messaging.rendering import compile_template

    sending = _new_sending(account_id)
    template = compile_template(TEMPLATE)
    started = time.perf_counter()
    rows = _sample_rows(account_id, group_id, size)
    listed = set(
        BlacklistEntry.objects.filter(
            account_id=account_id, type="sms", recipient__in=[row["phone"] for row in rows]
        ).values_list("recipient", flat=True)
    )
    ids = iter(public_ids_generate(len(rows)))
    now = timezone.now()
    messages = []
    for row in rows:
        if row["phone"] in listed:
            continue
        body = template.render({"name": row["name"], **row["custom_fields"]})
        sms = measure(body, "gsm")
        messages.append(
            Message(
                public_id=next(ids),
                account_id=account_id,
                sending=sending,
                contact_id=row["id"],
                channel="sms",
                sender="BENCH",
                recipient=row["phone"],
                body=body,
                encoding="gsm",
                parts=sms.parts,
                status="queued",
                due_at=now,
                cost=Decimal("0.045") * sms.parts,
            )
        )
    Message.objects.bulk_create(messages, batch_size=2000)
    return size / (time.perf_counter() - started)


def run_insert_select(account_id: int, group_id: int, contacts: int) -> float:
    """The ceiling: the database renders and inserts every row itself in one statement."""
    from django.db import connection

    sending = _new_sending(account_id)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO messaging_message (public_id, account_id, sending_id, contact_id, channel, sender, recipient,
                subject, body, encoding, parts, options, status, due_at, attempts, claim_token, provider,
                provider_message_id, error_code, error_reason, cost, notification_url, certified, created_at,
                updated_at)
            SELECT upper(substr(md5(c.id::text || random()::text), 1, 13)), c.account_id, %(sending)s, c.id, 'sms',
                'BENCH', c.phone, '',
                'Hola ' || coalesce(c.name, '') || ', en ' || coalesce(c.custom_fields ->> 'city', '')
                    || ' tenemos ofertas para ti esta semana. Responde BAJA para no recibir mas.',
                'gsm', 1, '{}'::jsonb, 'queued', now(), 0, '', '', '', '', '', 0.045, '', false, now(), now()
            FROM contacts_contact c
            WHERE c.account_id = %(account)s AND c.phone IS NOT NULL
              AND EXISTS (SELECT 1 FROM contacts_membership m WHERE m.contact_id = c.id AND m.group_id = %(group)s)
              AND NOT EXISTS (SELECT 1 FROM contacts_blacklistentry b
                              WHERE b.account_id = %(account)s AND b.type = 'sms' AND b.recipient = c.phone)
            """,
            {"sending": sending.pk, "account": account_id, "group": group_id},
        )
    return contacts / (time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--naive-sample", type=int, default=5_000)
    parser.add_argument("--bulk-sample", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--run-chunks")
    parser.add_argument("--database")
    args = parser.parse_args()

    if args.run_chunks:
        _setup_django(args.database)
        run_chunks(json.loads(args.run_chunks))
        return

    _setup_django()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("This benchmark measures PostgreSQL: set DATABASE_URL=postgres://...")
    from django.conf import settings

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = _bench_database_name()
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        print(f"database {database}: seeding {args.contacts:,} contacts ...", flush=True)
        started = time.perf_counter()
        data = seed(args.contacts)
        print(f"  seeded in {time.perf_counter() - started:.1f} s ({data['recipients']:,} not blacklisted)")

        ours = run_fanout(data["account_id"], data["group_id"], args.workers, database)
        rate = args.contacts / ours["seconds"]
        truncate_messages()
        naive = run_naive(data["account_id"], data["group_id"], args.naive_sample)
        truncate_messages()
        bulk = run_bulk_create(data["account_id"], data["group_id"], args.bulk_sample)
        truncate_messages()
        ceiling = run_insert_select(data["account_id"], data["group_id"], args.contacts)

        print()
        print(
            f"group send to {args.contacts:,} contacts, {args.workers} worker process(es), {ours['chunks']} chunk tasks"
        )
        print(f"  messages written          {ours['messages']:>12,}  (blacklisted excluded)")
        print(f"  plan (sending + chunks)   {ours['plan_seconds']:>12.2f} s")
        print(f"  total                     {ours['seconds']:>12.2f} s")
        print(f"  peak RSS                  {ours['peak_rss_mb']:>12.0f} MB")
        print()
        print(f"{'path':<36}{'recipients/s':>14}{'ours is':>12}")
        print(f"{'ours: fan-out chunks + COPY':<36}{rate:>14,.0f}{'':>12}")
        print(f"{'naive ORM loop (' + format(args.naive_sample, ',') + ')':<36}{naive:>14,.0f}{rate / naive:>11.1f}x")
        print(f"{'bulk_create (' + format(args.bulk_sample, ',') + ')':<36}{bulk:>14,.0f}{rate / bulk:>11.1f}x")
        print(f"{'INSERT ... SELECT ceiling':<36}{ceiling:>14,.0f}{rate / ceiling:>11.2f}x")
        target = rate >= 100_000 and ours["peak_rss_mb"] < 500
        print(f"\ntarget >= 100,000 recipients/s and peak RSS < 500 MB: {'met' if target else 'NOT met'}")
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(database, verbosity=0)


if __name__ == "__main__":
    main()
