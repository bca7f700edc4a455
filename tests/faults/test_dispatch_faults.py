"""Exactly-once dispatch under crashes and concurrency, with real worker processes
(`tests.faults.dispatch_worker`, the project's own dispatch code on the test database) sending over
real HTTP to the fake gateway (tests/fakes/http_gateway.py) on 127.0.0.1.

Counts chosen to keep the module near a minute on a busy 2-core machine (the shapes are the ones
issue 14 states):
- kill -9: 10 kills of a worker at moments drawn with a fixed seed (0.2-1.6 s after it was ready to claim),
  during one 10,000-message sending; the gateway takes 50 messages per request and answers after
  80 ms, a worker claims 200 at a time. After each kill, once PostgreSQL has ended the dead
  worker's sessions, the reconciler settles its batch; a last worker finishes the sending.
- two worker clusters: 2 processes dispatching 2,000 messages at once (claims of 100).
- a django-q2 task redelivered: one signed `messaging.tasks.dispatch_due` package run by
  django-q2's worker loop in one process, then again in a second process as soon as the first
  run's first request reached the gateway, while it still has 3,000 messages to send (claims of
  500, requests of 50 answered after 100 ms).
- dropped connections: 3 times pg_terminate_backend on every session of a worker while the
  gateway holds a request of the worker's claimed batch and the worker's write-behind session
  is open (1,000 messages, claims of 100, answers after 500 ms); the reconciler runs as the
  minute schedule does, with the in-flight threshold shortened to 4 s for the test.

"Lost" counts a message neither delivered to the fake exactly once with status `sent` nor in a
final state with its reason; "duplicates" counts deliveries beyond the first.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import timedelta

import pytest
from django_q.tasks import async_task

from campaigns.models import Channel, Sending, SendingStatus
from messaging.dispatch import in_flight_reconcile
from messaging.models import Event, Message, MessageStatus
from tests.fakes.http_gateway import FakeGateway
from tests.faults.workers import DispatchWorker, dispatch_loop_start
from tests.messaging.pipeline_factories import make_messages, make_sending, route
from tests.messaging.test_crash_safety import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

UNFINISHED = (MessageStatus.QUEUED, MessageStatus.IN_FLIGHT, MessageStatus.SCHEDULED)
# Final states a message may end in without reaching the gateway, always with a reason.
FINAL_WITH_REASON = (MessageStatus.REJECTED, MessageStatus.UNKNOWN, MessageStatus.EXPIRED)


def reconcile_everything() -> Counter[str]:
    """What the reconcile schedule would do once the dead workers' batches are old enough: here
    every worker is known dead, so no threshold."""
    tally: Counter[str] = Counter()
    for _ in range(50):
        settled = in_flight_reconcile(older_than=timedelta(0))
        if not settled:
            break
        tally += settled
    return tally


def unfinished(sending: Sending) -> int:
    return Message.objects.filter(sending=sending, status__in=UNFINISHED).count()


def ledger_against_gateway(sending: Sending, gateway: FakeGateway) -> dict[str, int]:
    """Every message of the sending as the ledger and the gateway see it."""
    rows = Message.objects.filter(sending=sending).values_list("public_id", "status", "error_reason")
    duplicates = lost = delivered = final_with_reason = 0
    for public_id, status, reason in rows:
        deliveries = gateway.deliveries(public_id)
        duplicates += max(0, deliveries - 1)
        if deliveries == 1 and status == MessageStatus.SENT:
            delivered += 1
        elif deliveries <= 1 and status in FINAL_WITH_REASON and reason:
            final_with_reason += 1
        elif deliveries <= 1:
            lost += 1
    sent_events = Event.objects.filter(sending=sending, type="sent").count()
    return {
        "messages": len(rows),
        "delivered once": delivered,
        "final with reason": final_with_reason,
        "duplicates": duplicates,
        "lost": lost,
        "sent events": sent_events,
    }


def assert_exactly_once(figures: dict[str, int], total: int) -> None:
    assert figures["duplicates"] == 0, figures
    assert figures["lost"] == 0, figures
    assert figures["delivered once"] + figures["final with reason"] == total, figures
    assert figures["sent events"] == figures["delivered once"], figures


# ---------------------------------------------------------------------------------------------
# kill -9


KILLS = 10
KILL_SEED = 14
KILL_MESSAGES = 10_000


def test_ten_kill_9_of_a_worker_during_a_10000_message_sending_lose_nothing_and_send_nothing_twice(
    account, gateway, workers, settings, fault_figures
):
    settings.DISPATCH_BACKOFF_SECONDS = 0  # the reconciler's re-queued messages are due at once
    route(Channel.SMS, "http_gateway", gateway.provider_settings(batch_size=50))
    sending = make_sending(account)
    make_messages(sending, KILL_MESSAGES)
    gateway.latency = 0.08
    rng = random.Random(KILL_SEED)
    moments = [round(rng.uniform(0.2, 1.6), 2) for _ in range(KILLS)]
    in_flight_at_kills: list[int] = []
    reconciled: Counter[str] = Counter()
    scenario = "kill -9 during a sending"

    started = time.monotonic()
    for index, moment in enumerate(moments):
        worker = dispatch_loop_start(f"faults-kill-{index}", claim_size=200)
        workers.append(worker)
        time.sleep(moment)
        assert unfinished(sending), f"kill {index + 1} came after the sending was over: lower the gateway's speed"
        worker.kill()
        worker.wait_sessions_gone()
        in_flight_at_kills.append(Message.objects.filter(sending=sending, status=MessageStatus.IN_FLIGHT).count())
        reconciled += reconcile_everything()
    delivered_during_kills = gateway.stats()["distinct"]

    last = dispatch_loop_start("faults-kill-last", claim_size=200)
    workers.append(last)
    wait_until(lambda: not unfinished(sending), timeout=100)
    last.kill()
    last.wait_sessions_gone()
    reconciled += reconcile_everything()
    elapsed = time.monotonic() - started

    figures = ledger_against_gateway(sending, gateway)
    fault_figures(
        scenario,
        kills=len(in_flight_at_kills),
        kill_moments_s=f"{min(moments)}-{max(moments)}",
        kills_with_a_batch_in_flight=sum(1 for count in in_flight_at_kills if count),
        in_flight_at_kills=sum(in_flight_at_kills),
        reconciled={str(status): n for status, n in reconciled.items()},
        sent_before_the_last_worker=delivered_during_kills,
        **figures,
        seconds=round(elapsed, 1),
    )
    assert len(in_flight_at_kills) == KILLS
    assert sum(1 for count in in_flight_at_kills if count) >= KILLS // 2, in_flight_at_kills
    assert reconciled["sent"] + reconciled["queued"] == sum(in_flight_at_kills)
    assert_exactly_once(figures, KILL_MESSAGES)
    sending.refresh_from_db()
    assert (sending.processed, sending.status) == (KILL_MESSAGES, SendingStatus.FINISHED)


# ---------------------------------------------------------------------------------------------
# Two clusters


def test_two_worker_clusters_dispatching_one_database_at_once_send_each_message_once(
    account, gateway, workers, fault_figures
):
    count = 2_000
    route(Channel.SMS, "http_gateway", gateway.provider_settings(batch_size=50))
    gateway.latency = 0.05
    sending = make_sending(account, total=count)
    # Both clusters are up before the messages exist, so both find work from the first claim.
    one = DispatchWorker("faults-cluster-one", "loop", "100")
    two = DispatchWorker("faults-cluster-two", "loop", "100")
    workers.extend([one, two])
    one.wait_ready()
    two.wait_ready()
    started = time.monotonic()
    make_messages(sending, count, update_total=False)  # one INSERT: visible to both at once

    wait_until(lambda: not unfinished(sending), timeout=90)
    wait_until(lambda: one.handled + two.handled >= count, timeout=10)
    elapsed = time.monotonic() - started

    figures = ledger_against_gateway(sending, gateway)
    fault_figures(
        "two worker clusters",
        clusters=2,
        handled_by_each=f"{one.handled}+{two.handled}",
        **figures,
        seconds=round(elapsed, 1),
    )
    assert one.handled > 0 and two.handled > 0, "both clusters must have dispatched"
    assert one.handled + two.handled == count
    assert not one.errors and not two.errors, one.errors + two.errors
    assert_exactly_once(figures, count)
    assert figures["delivered once"] == count


# ---------------------------------------------------------------------------------------------
# A django-q2 task redelivered


class _CapturingBroker:
    """Stands in for the broker at enqueue time: keeps the signed package django-q2 builds, so
    the test can hand the very same task to two workers, as a redelivery does."""

    list_key = "fault-suite"

    def __init__(self) -> None:
        self.packages: list[str] = []

    def enqueue(self, package: str) -> str:
        self.packages.append(package)
        return str(len(self.packages))


def test_a_dispatch_task_redelivered_while_its_first_run_still_works_sends_nothing_twice(
    account, gateway, workers, fault_figures
):
    count = 3_000
    route(Channel.SMS, "http_gateway", gateway.provider_settings(batch_size=50))
    gateway.latency = 0.1
    sending = make_sending(account)
    make_messages(sending, count)
    broker = _CapturingBroker()
    task_id = async_task("messaging.tasks.dispatch_due", task_name="dispatch due (kick)", broker=broker)
    (package,) = broker.packages

    # Both processes are up first, so the redelivery lands at a chosen moment of the first run.
    first = DispatchWorker("faults-task-first-run", "task", package)
    second = DispatchWorker("faults-task-redelivered", "task", package)
    workers.extend([first, second])
    first.wait_ready()
    second.wait_ready()
    first.go()
    assert gateway.wait_for_messages(1, timeout=60)
    unsent_when_redelivered = unfinished(sending)
    second.go()
    first_still_running = first.process.poll() is None

    first_result, second_result = first.result(timeout=100), second.result(timeout=100)
    first_handled, second_handled = (int(result.split()[2]) for result in (first_result, second_result))

    figures = ledger_against_gateway(sending, gateway)
    fault_figures(
        "django-q2 task redelivered",
        task=task_id[:8],
        runs=2,
        unsent_when_redelivered=unsent_when_redelivered,
        handled_by_each_run=f"{first_handled}+{second_handled}",
        **figures,
    )
    assert first_result.startswith("result True") and second_result.startswith("result True")
    assert first_still_running
    assert second_handled > 0, "the redelivered run must have found work left by the running first one"
    assert first_handled + second_handled == count
    assert_exactly_once(figures, count)
    assert figures["delivered once"] == count


# ---------------------------------------------------------------------------------------------
# PostgreSQL connections dropped


DROPS = 3
STALE_AFTER = 4.0


def test_postgresql_connections_dropped_mid_batch_leave_the_batch_to_reconciliation_and_lose_nothing(
    account, gateway, workers, settings, fault_figures
):
    count = 1_000
    settings.DISPATCH_BACKOFF_SECONDS = 0
    settings.DISPATCH_STALE_AFTER_SECONDS = STALE_AFTER
    route(Channel.SMS, "http_gateway", gateway.provider_settings(batch_size=50))
    gateway.latency = 0.5
    sending = make_sending(account)
    make_messages(sending, count)
    worker = dispatch_loop_start("faults-dropped", claim_size=100, stale_after=STALE_AFTER)
    workers.append(worker)
    held_at_drops: list[int] = []
    terminated = 0
    reconciled: Counter[str] = Counter()

    for _ in range(DROPS):
        # Mid-batch: the worker has both its sessions (the claiming one and the write-behind
        # one of its run), and the gateway has just taken a request of its claimed batch; the
        # worker waits for the answer, its rows committed IN_FLIGHT under its claim token.
        wait_until(lambda: worker.sessions() >= 2, timeout=30)
        assert gateway.wait_for_messages(gateway.stats()["received"] + 1, timeout=30)
        held_at_drops.append(
            Message.objects.filter(sending=sending, status=MessageStatus.IN_FLIGHT).exclude(claim_token="").count()
        )
        terminated += worker.terminate_sessions()
        time.sleep(0.6)  # the answer comes, the write-back meets the dropped connection

    def settled() -> bool:
        # The reconcile schedule, run more often than every minute.
        reconciled.update(in_flight_reconcile())
        return not unfinished(sending)

    wait_until(settled, timeout=90)
    figures = ledger_against_gateway(sending, gateway)
    fault_figures(
        "PostgreSQL connections dropped mid-batch",
        drops=DROPS,
        sessions_terminated=terminated,
        in_flight_at_drops=sum(held_at_drops),
        worker_errors=len(worker.errors),
        reconciled={str(status): n for status, n in reconciled.items()},
        **figures,
    )
    assert terminated >= DROPS and min(held_at_drops) > 0, held_at_drops
    assert worker.errors, "the worker must have met the dropped connections"
    assert reconciled["sent"] > 0, "a batch whose write-back failed is settled by the reconciler"
    assert_exactly_once(figures, count)
    assert figures["delivered once"] == count
    sending.refresh_from_db()
    assert sending.processed == count
