"""Each message reaches the provider exactly once: with a worker killed by SIGKILL in the middle
of a batch, with two dispatchers at once, and with a task run again while its first run is going.

These tests commit (transaction=True) so that other connections, threads and a real worker
process see the rows, and they talk to the fake gateway over real HTTP on 127.0.0.1.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from campaigns.models import Channel, SendingStatus
from messaging import dispatch
from messaging.dispatch import dispatch_due, in_flight_reconcile, messages_claim
from messaging.models import Event, Message, MessageStatus
from tests.fakes.http_gateway import FakeGateway
from tests.messaging.pipeline_factories import make_messages, make_sending, route

pytestmark = pytest.mark.django_db(transaction=True)

PROJECT_DIR = Path(__file__).resolve().parents[2]
WORKER = """
import os, sys, time
import django
django.setup()
from messaging.dispatch import dispatch_due
print("worker ready", flush=True)
while True:
    if not dispatch_due(limit=int(sys.argv[1])):
        time.sleep(0.05)
"""


def start_worker(claim_size: int) -> subprocess.Popen:
    """A real dispatcher process on the test database, as a django-q2 worker would run it."""
    settings = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(claim_size)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout.readline().strip() == "worker ready"
    return process


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("crash safety is proven on PostgreSQL (SKIP LOCKED); SQLite has a single writer")
    dispatch._provider_cache.clear()


@pytest.fixture
def gateway():
    with FakeGateway() as fake:
        yield fake


def in_own_thread(target, *args):
    """Run `target` in a thread with its own database connection, closed at the end."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = target(*args)
        except BaseException as exc:  # surfaced by the test, not swallowed
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_worker_killed_mid_batch_leaves_no_message_lost_and_none_sent_twice(account, gateway):
    # 25 messages per HTTP request, 100 per claim: the kill lands while the claim's second
    # request is at the gateway, so the batch has messages the gateway took (25 answered, 25
    # unanswered) and 50 it never saw, all IN_FLIGHT in our ledger.
    route(Channel.SMS, "http_gateway", gateway.provider_settings(batch_size=25))
    sending = make_sending(account)
    messages = make_messages(sending, 300)
    gateway.latency = 0.5

    worker = start_worker(claim_size=100)
    try:
        assert gateway.wait_for_messages(50, timeout=30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        worker.kill()
    gateway.latency = 0.0

    in_flight = set(Message.objects.filter(status=MessageStatus.IN_FLIGHT).values_list("public_id", flat=True))
    taken = {m.public_id for m in messages if gateway.deliveries(m.public_id)}
    assert len(in_flight) == 100, "the kill must land in the middle of a claimed batch"
    # The dead worker wrote nothing back: what the gateway took is all still in flight with us.
    assert taken <= in_flight
    assert 0 < len(taken) < len(in_flight)

    # The reconciler settles the dead worker's batch (its threshold is the task timeout; here the
    # worker is known dead), then another worker carries on.
    tally = in_flight_reconcile(older_than=timedelta(0))
    assert tally["sent"] == len(taken) and tally["queued"] == 100 - len(taken)
    Message.objects.filter(status=MessageStatus.QUEUED).update(due_at=timezone.now())
    worker = start_worker(claim_size=100)
    try:
        wait_until(lambda: not Message.objects.exclude(status=MessageStatus.SENT).exists())
    finally:
        worker.kill()
        worker.wait(timeout=10)

    assert [gateway.deliveries(m.public_id) for m in messages] == [1] * 300
    assert gateway.stats()["duplicates"] == 0
    assert Message.objects.filter(sending=sending, status=MessageStatus.SENT).count() == 300
    assert Event.objects.filter(sending=sending, type="sent").count() == 300
    sending.refresh_from_db()
    assert (sending.sent, sending.processed, sending.status) == (300, 300, SendingStatus.FINISHED)


def test_two_dispatchers_at_once_claim_disjoint_sets_and_send_each_message_once(account, gateway, monkeypatch):
    route(Channel.SMS, "http_gateway", gateway.provider_settings())
    sending = make_sending(account)
    messages = make_messages(sending, 400)
    gateway.latency = 0.02
    claimed: dict[str, list[int]] = {}
    real_claim = dispatch.messages_claim

    def recording_claim(**kwargs):
        claim = real_claim(**kwargs)
        claimed.setdefault(threading.current_thread().name, []).extend(m.id for m in claim.messages)
        return claim

    monkeypatch.setattr(dispatch, "messages_claim", recording_claim)
    first, first_outcome = in_own_thread(lambda: dispatch_due(limit=20))
    second, second_outcome = in_own_thread(lambda: dispatch_due(limit=20))
    first.join(60)
    second.join(60)

    assert "error" not in first_outcome and "error" not in second_outcome
    assert first_outcome["result"] > 0 and second_outcome["result"] > 0, "both dispatchers must have worked"
    one, two = (set(ids) for ids in claimed.values())
    assert not one & two
    assert one | two == {m.pk for m in messages}
    assert [gateway.deliveries(m.public_id) for m in messages] == [1] * 400
    assert Message.objects.filter(sending=sending, status=MessageStatus.SENT).count() == 400
    sending.refresh_from_db()
    assert (sending.sent, sending.processed) == (400, 400)


def test_a_task_run_again_while_its_first_run_is_going_sends_nothing_twice(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings())
    sending = make_sending(account)
    messages = make_messages(sending, 50)
    gateway.latency = 1.0

    first, outcome = in_own_thread(lambda: dispatch_due(limit=500))
    assert gateway.wait_for_messages(50, timeout=10)
    # django-q2 redelivered the task: its second run finds every message in flight.
    assert dispatch_due() == 0
    first.join(30)

    assert outcome["result"] == 50
    assert gateway.stats()["requests"] == 1
    assert [gateway.deliveries(m.public_id) for m in messages] == [1] * 50
    assert Message.objects.filter(sending=sending, status=MessageStatus.SENT).count() == 50


def test_claim_skips_rows_locked_by_another_transaction_instead_of_waiting(account):
    sending = make_sending(account)
    messages = make_messages(sending, 10)
    locked_ids = [m.pk for m in messages[:5]]
    holding, release = threading.Event(), threading.Event()

    def hold_locks():
        with transaction.atomic():
            list(Message.objects.select_for_update().filter(pk__in=locked_ids))
            holding.set()
            release.wait(10)

    holder, outcome = in_own_thread(hold_locks)
    assert holding.wait(10)
    try:
        started = time.monotonic()
        claim = messages_claim(limit=10)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join(10)

    assert "error" not in outcome
    assert sorted(m.id for m in claim.messages) == sorted(m.pk for m in messages[5:])
    assert elapsed < 2
    assert set(Message.objects.filter(pk__in=locked_ids).values_list("status", flat=True)) == {MessageStatus.QUEUED}
