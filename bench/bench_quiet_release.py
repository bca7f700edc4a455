"""Releasing messages held by quiet hours: 1,000,000 `scheduled` messages due at 08:00, released to `queued`
by the scheduler's periodic pass, measured against the alternatives.

Run from the repository root with the PostgreSQL to measure on (the script creates and drops its own
throwaway database `bench_quiet_<name>` next to it):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/campaigns python bench/bench_quiet_release.py

Options: --messages N (default 1,000,000), --naive-sample N (default 20,000), --repeat N (default 1),
--keep (keep the database).

What is measured, on the same rows (one marketing SMS sending; every message `scheduled` with due_at 08:00
the way the quiet-hours hold leaves them; no availableTimes, no expiry):
- ours: `messaging.scheduling.scheduled_release(now=08:00)` (what the `release_scheduled` task runs every
  minute), until every message is queued;
- naive: a per-message loop on a sample (load the message and its sending, check, save), what a task per
  held message would do at best;
- limit: one bare `UPDATE messaging_message SET status = 'queued' … WHERE status = 'scheduled' AND
  due_at <= 08:00` of the same rows: the fastest this table (its indexes move every row from the
  scheduled partial index to the queued one) can take the release.
Between runs the rows are put back to `scheduled` (not timed) and the table vacuumed. The machine may be
shared, so CPU time per message (Python + its PostgreSQL backend, from /proc) is printed too.
"""

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench_group_send import _backend_cpu, _own_cpu  # noqa: E402 - the bench directory is on sys.path

RELEASE_AT = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # Monday 08:00 in Paris


def _setup_django() -> None:
    import django
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    django.setup()


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def seed(messages: int) -> int:
    """An account, one sending and `messages` scheduled messages due at RELEASE_AT (one INSERT … SELECT)."""
    from django.db import connection

    from accounts.models import Account
    from campaigns.models import Campaign, Sending
    from messaging.models import Message

    account = Account.objects.create(name="Bench quiet release", balance=Decimal("1000000"))
    campaign = Campaign.objects.create(account=account, name="Held by quiet hours")
    sending = Sending.objects.create(account=account, campaign=campaign, channel="sms", options={"sender": "BENCH"})
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Message._meta.db_table} (public_id, account_id, sending_id, channel, sender, recipient, "
            "subject, body, encoding, parts, options, status, due_at, attempts, claim_token, provider, "
            "provider_message_id, error_code, error_reason, cost, notification_url, certified, created_at, "
            "updated_at) "
            "SELECT 'q' || lpad(n::text, 15, '0'), %s, %s, 'sms', 'BENCH', '33600' || lpad(n::text, 6, '0'), '', "
            "'Soldes ce week-end STOP au 36180', 'gsm', 1, '{}', 'scheduled', %s, 0, '', '', '', '', '', 0.05, '', "
            "false, %s, %s FROM generate_series(1, %s) AS n",
            [account.pk, sending.pk, RELEASE_AT, RELEASE_AT, RELEASE_AT, messages],
        )
        cursor.execute(f"VACUUM ANALYZE {Message._meta.db_table}")
    return sending.pk


def reset(limit: int | None = None) -> None:
    """Every message (or the first `limit`) back to scheduled, then vacuumed: the next run starts alike."""
    from django.db import connection

    with connection.cursor() as cursor:
        if limit is None:
            cursor.execute("UPDATE messaging_message SET status = 'scheduled' WHERE status <> 'scheduled'")
        else:
            cursor.execute("UPDATE messaging_message SET status = 'queued' WHERE status <> 'queued'")
            cursor.execute(
                "UPDATE messaging_message SET status = 'scheduled' WHERE id IN "
                "(SELECT id FROM messaging_message ORDER BY id LIMIT %s)",
                [limit],
            )
        cursor.execute("VACUUM ANALYZE messaging_message")
        cursor.execute("CHECKPOINT")


def _cpu() -> float | None:
    """Python + PostgreSQL backend CPU seconds so far (None when the server is not on this host)."""
    server = _backend_cpu()
    return None if server is None else server + _own_cpu()


def _cpu_per_message(before: float | None, messages: int) -> float | None:
    after = _cpu()
    return None if before is None or after is None else (after - before) / messages * 1e6


def run_ours() -> tuple[float, int, float | None]:
    from messaging.scheduling import scheduled_release

    cpu, started = _cpu(), time.perf_counter()
    tally = scheduled_release(now=RELEASE_AT, budget_seconds=3600)
    seconds = time.perf_counter() - started
    return seconds, tally["queued"], _cpu_per_message(cpu, max(tally["queued"], 1))


def run_naive(sample: int) -> float:
    """Per message: load it and its sending, check the sending is not held, save it queued."""
    from campaigns.models import Sending
    from messaging.dispatch import HELD_SENDING_STATUSES
    from messaging.models import Message, MessageStatus

    ids = list(
        Message.objects.filter(status=MessageStatus.SCHEDULED, due_at__lte=RELEASE_AT)
        .order_by("due_at", "id")
        .values_list("id", flat=True)[:sample]
    )
    started = time.perf_counter()
    for message_id in ids:
        message = Message.objects.get(pk=message_id)
        sending = Sending.objects.get(pk=message.sending_id)
        if sending.status in HELD_SENDING_STATUSES:
            continue
        message.status = MessageStatus.QUEUED
        message.updated_at = RELEASE_AT
        message.save(update_fields=["status", "updated_at"])
    return len(ids) / (time.perf_counter() - started)


def run_limit() -> tuple[float, int, float | None]:
    from django.db import connection, transaction

    cpu, started = _cpu(), time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_message SET status = 'queued', updated_at = %s "
            "WHERE status = 'scheduled' AND due_at <= %s",
            [RELEASE_AT, RELEASE_AT],
        )
        released = cursor.rowcount
    seconds = time.perf_counter() - started
    return seconds, released, _cpu_per_message(cpu, max(released, 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--naive-sample", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    _setup_django()
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("This benchmark measures PostgreSQL: set DATABASE_URL=postgres://...")
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
        f"bench_quiet_{settings.DATABASES['default']['NAME']}"[:63]
    )
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        print(f"database {database}: seeding {args.messages:,} held messages ... (load average {_load()})", flush=True)
        started = time.perf_counter()
        seed(args.messages)
        print(f"  seeded in {time.perf_counter() - started:.1f} s", flush=True)

        ours_rates, limit_rates, ours_cpu, limit_cpu = [], [], [], []
        for _ in range(args.repeat):
            reset()
            seconds, released, cpu = run_ours()
            assert released == args.messages, f"released {released:,} of {args.messages:,}"
            ours_rates.append(released / seconds)
            ours_cpu.append(cpu)
            print(f"  ours: {ours_rates[-1]:,.0f} messages/s ({seconds:.1f} s)", flush=True)
            reset()
            seconds, released, cpu = run_limit()
            limit_rates.append(released / seconds)
            limit_cpu.append(cpu)
            print(f"  bare UPDATE: {limit_rates[-1]:,.0f} messages/s ({seconds:.1f} s)", flush=True)
        reset(args.naive_sample)
        naive = run_naive(args.naive_sample)

        ours, limit = max(ours_rates), max(limit_rates)
        print()
        print(f"release of {args.messages:,} messages held by quiet hours until 08:00 (load average {_load()})")
        print(f"{'path':<46}{'messages/s':>14}{'ours is':>10}")
        print(f"{'ours: scheduled_release (set-based batches)':<46}{ours:>14,.0f}")
        naive_label = f"naive per-message loop ({args.naive_sample:,})"
        print(f"{naive_label:<46}{naive:>14,.0f}{ours / naive:>9.1f}x")
        print(f"{'limit: one bare UPDATE of the same rows':<46}{limit:>14,.0f}{ours / limit:>9.2f}x")
        if None not in ours_cpu + limit_cpu:
            ours_us, limit_us = min(ours_cpu), min(limit_cpu)
            print("\nCPU time per message, Python + PostgreSQL (independent of other load on the machine):")
            print(
                f"  ours {ours_us:.1f} µs, bare UPDATE {limit_us:.1f} µs: ours is {limit_us / ours_us:.2f}x the limit"
            )
            print(f"  => one core would release about {1e6 / ours_us:,.0f} messages/s (estimate)")
        target = ours >= 200_000
        print(f"\ntarget >= 200,000 messages/s in one set-based pass: {'met' if target else 'NOT met'} (measured)")
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(database, verbosity=0)


if __name__ == "__main__":
    main()
