"""Group-send fan-out speed: 1,000,000 contacts on PostgreSQL, measured against the alternatives.

Run from the repository root with the PostgreSQL to measure on (the script creates and drops its
own throwaway database `bench_fanout_<name>` next to it, so nothing of yours is touched):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/campaigns python bench/bench_group_send.py

Options: --contacts N (default 1,000,000), --workers N (fan-out chunk tasks run in N processes,
like a django-q2 cluster of N workers; default 2), --repeat N (runs of ours and of each ceiling;
default 3: the best is reported, with the spread), --naive-sample N (default 5,000),
--bulk-sample N (default 100,000), --keep (keep the database).

What is measured, from the same run and the same data (group of N contacts, 1% blacklisted,
message with two variables: the contact's name and a custom field):
- ours: `sms_group_send()` (validation, Sending, chunk plan) + every fan-out chunk task
  (`fanout_chunk_run`: key-range streaming, blacklist anti-join in SQL, render, segment count,
  pricing, COPY, balance debit), wall-clock from the call to the last chunk committed;
- naive: an ORM loop (blacklist query, render, Message.objects.create per recipient) on a sample;
- bulk_create: the same rendering with Message objects written by bulk_create, on a sample;
- ceilings: `INSERT ... SELECT` with the rendering done in SQL (no segment counting, no
  pricing), split over the same number of connections as ours has workers: into messaging_message
  itself (same columns, indexes and triggers: the fastest this table can take the rows), and into
  a lean copy of it with only a primary key (what the indexes cost).
Peak RSS is the maximum resident size of the processes that ran the fan-out.

The machine may be shared (other processes compete for its cores), so wall-clock rates move from
run to run. The script therefore also measures CPU time per recipient — of the worker processes
(Python) and of their PostgreSQL backends (/proc/<pid>/stat, when the server runs on this host) —
which does not depend on how busy the machine is, and derives the rate an otherwise idle machine
with this many cores would reach (cores ÷ CPU per recipient). That figure is an estimate; the
measured wall-clock rates are printed first.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
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


def _backend_cpu(link=None) -> float | None:
    """CPU seconds used so far by the PostgreSQL backend of `link` (a psycopg connection; Django's
    default connection when None), or None when the server does not run on this host."""
    if link is None:
        from django.db import connection

        connection.ensure_connection()
        link = connection.connection
    try:
        with open(f"/proc/{link.info.backend_pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # utime and stime are fields 14 and 15
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


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
    from campaigns import fanout, outbox
    from campaigns.models import FanoutChunk
    from campaigns.services import sms_group_send

    account = Account.objects.get(pk=account_id)
    # The chunk tasks run in this script's worker processes below, not through a django-q2 broker.
    fanout._enqueue_on_commit = lambda chunk_ids: None
    outbox.dispatch_kick_on_commit = lambda: None
    server_before, client_before = _backend_cpu(), _own_cpu()
    started = time.perf_counter()
    sending = sms_group_send(account=account, group_ids=[group_id], message=TEMPLATE, sender="BENCH")
    planned = time.perf_counter()
    server_after = _backend_cpu()
    plan_server = server_after - server_before if server_before is not None and server_after is not None else None
    plan_client = _own_cpu() - client_before
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
    reports = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit("a chunk worker failed")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    finished = time.perf_counter()
    sending.refresh_from_db()
    servers = [report["server_cpu"] for report in reports]
    return {
        "seconds": finished - started,
        "plan_seconds": planned - started,
        "messages": sending.total,
        "chunks": len(chunk_ids),
        "peak_rss_mb": max([report["peak_rss_mb"] for report in reports] + [_own_peak_rss_mb()]),
        "cost": sending.cost,
        "client_cpu": plan_client + sum(report["client_cpu"] for report in reports),
        "server_cpu": None if plan_server is None or None in servers else plan_server + sum(servers),
    }


def _own_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_chunks(chunk_ids: list[int]) -> None:
    from campaigns import fanout, outbox

    # No dispatcher runs here: waking one (a broker message per chunk) would only pile up.
    outbox.dispatch_kick_on_commit = lambda: None
    server_before, client_before = _backend_cpu(), _own_cpu()
    for chunk_id in chunk_ids:
        fanout.fanout_chunk_run(chunk_id)
    server_after = _backend_cpu()
    print(
        json.dumps(
            {
                "peak_rss_mb": _own_peak_rss_mb(),
                "client_cpu": _own_cpu() - client_before,
                "server_cpu": None if server_before is None or server_after is None else server_after - server_before,
            }
        )
    )


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

    from campaigns.outbox import public_ids_generate
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

    from campaigns.outbox import public_ids_generate
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


LEAN_TABLE = "bench_lean_message"

CEILING_SQL = """
INSERT INTO {table} (public_id, account_id, sending_id, contact_id, channel, sender, recipient,
    subject, body, encoding, parts, options, status, due_at, attempts, claim_token, provider,
    provider_message_id, error_code, error_reason, cost, notification_url, certified, created_at,
    updated_at)
SELECT upper(substr(md5(c.id::text || random()::text), 1, 13)), c.account_id, %(sending)s, c.id, 'sms',
    'BENCH', c.phone, '',
    'Hola ' || coalesce(c.name, '') || ', en ' || coalesce(c.custom_fields ->> 'city', '')
        || ' tenemos ofertas para ti esta semana. Responde BAJA para no recibir mas.',
    'gsm', 1, '{{}}'::jsonb, 'queued', now(), 0, '', '', '', '', '', 0.045, '', false, now(), now()
FROM contacts_contact c
WHERE c.account_id = %(account)s AND c.phone IS NOT NULL AND c.id > %(after)s AND c.id <= %(last)s
  AND EXISTS (SELECT 1 FROM contacts_membership m WHERE m.contact_id = c.id AND m.group_id = %(group)s)
  AND NOT EXISTS (SELECT 1 FROM contacts_blacklistentry b
                  WHERE b.account_id = %(account)s AND b.type = 'sms' AND b.recipient = c.phone)
"""


def lean_table_create() -> None:
    """messaging_message's columns and defaults with only a primary key: no secondary index,
    no trigger."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {LEAN_TABLE}")
        cursor.execute(
            f"CREATE TABLE {LEAN_TABLE} (LIKE messaging_message INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING CONSTRAINTS)"
        )
        cursor.execute(f"ALTER TABLE {LEAN_TABLE} ADD PRIMARY KEY (id)")


def run_insert_select(account_id: int, group_id: int, contacts: int, *, table: str, connections: int) -> dict:
    """The ceiling: the database renders and inserts every row itself, the contact-id range split
    over `connections` connections running at once (one transaction each)."""
    import psycopg
    from django.db import connection

    sending = _new_sending(account_id)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table} CASCADE")
        cursor.execute("SELECT min(id), max(id) FROM contacts_contact WHERE account_id = %s", [account_id])
        low, high = cursor.fetchone()
        cursor.execute("CHECKPOINT")
    settings = connection.get_connection_params()
    step = (high - low + connections) // connections
    ranges = [(low - 1 + index * step, min(high, low - 1 + (index + 1) * step)) for index in range(connections)]
    links = [psycopg.connect(**settings) for _ in ranges]
    cpu: list[float | None] = [None] * len(ranges)

    def insert(index: int) -> None:
        link = links[index]
        before = _backend_cpu(link)
        with link.transaction():
            link.execute(
                CEILING_SQL.format(table=table),
                {"sending": sending.pk, "account": account_id, "group": group_id, "after": ranges[index][0],
                 "last": ranges[index][1]},
            )  # fmt: skip
        after = _backend_cpu(link)
        cpu[index] = None if before is None or after is None else after - before

    threads = [threading.Thread(target=insert, args=(index,)) for index in range(len(ranges))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    for link in links:
        link.close()
    return {"rate": contacts / seconds, "server_cpu": None if None in cpu else sum(cpu)}


# ---------------------------------------------------------------------------------------------


def _best(runs: list[float]) -> str:
    if len(runs) == 1:
        return ""
    return f"  (runs: {', '.join(f'{run:,.0f}' for run in runs)}; median {statistics.median(runs):,.0f})"


def _cpu_text(client: float | None, server: float | None, recipients: int) -> str:
    parts = []
    if client is not None:
        parts.append(f"Python {client / recipients * 1e6:.1f}")
    if server is not None:
        parts.append(f"PostgreSQL {server / recipients * 1e6:.1f}")
    return " + ".join(parts) + " µs" if parts else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
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
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        print(f"database {database}: seeding {args.contacts:,} contacts ... (load average {_load()})", flush=True)
        started = time.perf_counter()
        data = seed(args.contacts)
        print(f"  seeded in {time.perf_counter() - started:.1f} s ({data['recipients']:,} not blacklisted)")

        runs = []
        for _ in range(args.repeat):
            truncate_messages()
            with connection.cursor() as cursor:
                cursor.execute("CHECKPOINT")
            runs.append(run_fanout(data["account_id"], data["group_id"], args.workers, database))
            print(f"  ours: {args.contacts / runs[-1]['seconds']:,.0f} recipients/s", flush=True)
        ours = min(runs, key=lambda run: run["seconds"])
        rates = [args.contacts / run["seconds"] for run in runs]
        rate = max(rates)
        truncate_messages()
        naive = run_naive(data["account_id"], data["group_id"], args.naive_sample)
        truncate_messages()
        bulk = run_bulk_create(data["account_id"], data["group_id"], args.bulk_sample)
        truncate_messages()
        lean_table_create()
        same, lean = [], []
        for _ in range(args.repeat):
            same.append(run_insert_select(data["account_id"], data["group_id"], args.contacts,
                                          table="messaging_message", connections=args.workers))  # fmt: skip
            lean.append(run_insert_select(data["account_id"], data["group_id"], args.contacts,
                                          table=LEAN_TABLE, connections=args.workers))  # fmt: skip
        ceiling = max(same, key=lambda run: run["rate"])
        lean_ceiling = max(lean, key=lambda run: run["rate"])

        recipients = args.contacts
        print()
        print(
            f"group send to {args.contacts:,} contacts, {args.workers} worker process(es), {ours['chunks']} chunk tasks"
        )
        print(f"  messages written          {ours['messages']:>12,}  (blacklisted excluded)")
        print(f"  plan (sending + chunks)   {ours['plan_seconds']:>12.2f} s")
        print(f"  total (best of {len(runs)})         {ours['seconds']:>12.2f} s")
        print(f"  peak RSS                  {max(run['peak_rss_mb'] for run in runs):>12.0f} MB")
        print(f"  load average at the end   {_load():>12}  ({os.cpu_count()} cores)")
        print()
        print(f"{'path':<44}{'recipients/s':>14}{'ours is':>10}")
        print(f"{'ours: fan-out chunks + COPY':<44}{rate:>14,.0f}{'':>10}{_best(rates)}")
        naive_label = f"naive ORM loop ({args.naive_sample:,})"
        print(f"{naive_label:<44}{naive:>14,.0f}{rate / naive:>9.1f}x")
        bulk_label = f"bulk_create ({args.bulk_sample:,})"
        print(f"{bulk_label:<44}{bulk:>14,.0f}{rate / bulk:>9.1f}x")
        same_rates = [run["rate"] for run in same]
        lean_rates = [run["rate"] for run in lean]
        print(f"{'INSERT ... SELECT ceiling, messaging_message':<44}{ceiling['rate']:>14,.0f}"
              f"{rate / ceiling['rate']:>9.2f}x{_best(same_rates)}")  # fmt: skip
        print(f"{'INSERT ... SELECT, lean table (pk only)':<44}{lean_ceiling['rate']:>14,.0f}"
              f"{rate / lean_ceiling['rate']:>9.2f}x{_best(lean_rates)}")  # fmt: skip
        print(f"  (ceilings over {args.workers} connection(s) at once, like ours over {args.workers} worker(s))")

        print()
        print("CPU time per recipient (independent of other load on the machine):")
        ours_cpu = _cpu_text(ours["client_cpu"], ours["server_cpu"], recipients)
        print(f"  ours                                    {ours_cpu}")
        print(f"  INSERT ... SELECT, messaging_message    {_cpu_text(None, ceiling['server_cpu'], recipients)}")
        print(f"  INSERT ... SELECT, lean table           {_cpu_text(None, lean_ceiling['server_cpu'], recipients)}")
        cores = os.cpu_count() or 1
        idle_rate = None
        if ours["server_cpu"] is not None:
            per_recipient = (ours["client_cpu"] + ours["server_cpu"]) / recipients
            idle_rate = min(cores, args.workers * 2) / per_recipient
            print(
                f"  => on an idle {cores}-core machine ours would reach about {idle_rate:,.0f} recipients/s "
                "(estimate: cores / CPU per recipient)"
            )
        target = rate >= 100_000 and ours["peak_rss_mb"] < 500
        print(f"\ntarget >= 100,000 recipients/s and peak RSS < 500 MB: {'met' if target else 'NOT met'} (measured)")
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(database, verbosity=0)


if __name__ == "__main__":
    main()
