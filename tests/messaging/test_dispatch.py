from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from campaigns.models import Channel, Sending, SendingStatus
from messaging import dispatch
from messaging.dispatch import backoff, claim_dispatch, dispatch_due, in_flight_reconcile, messages_claim
from messaging.events import events_record
from messaging.models import Event, Message, MessageStatus, ProviderRoute
from messaging.providers import PROVIDERS
from messaging.providers.base import DeliveryEvent, OutboundMessage, Provider
from messaging.providers.http_gateway import HttpGatewayProvider
from tests.fakes.http_gateway import FakeGateway
from tests.messaging.pipeline_factories import make_messages, make_sending, route

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway():
    with FakeGateway() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_provider_cache():
    dispatch._provider_cache.clear()
    yield
    dispatch._provider_cache.clear()


def statuses(sending: Sending) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Message.objects.filter(sending=sending).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


# -- claim ---------------------------------------------------------------------------------------


def test_claim_commits_due_messages_in_flight_with_token_attempt_and_provider(account):
    sending = make_sending(account)
    messages = make_messages(sending, 3)

    claim = messages_claim(limit=10)

    assert sorted(m.id for m in claim.messages) == sorted(m.pk for m in messages)
    rows = Message.objects.filter(sending=sending)
    assert {(r.status, r.claim_token, r.attempts, r.provider) for r in rows} == {
        (MessageStatus.IN_FLIGHT, claim.token, 1, "simulator")
    }
    assert all(r.claimed_at is not None for r in rows)


def test_claim_takes_oldest_due_first_and_respects_the_limit(account):
    sending = make_sending(account)
    now = timezone.now()
    late = make_messages(sending, 1, due_at=now - timedelta(seconds=1))[0]
    early = make_messages(sending, 1, due_at=now - timedelta(minutes=5))[0]

    claim = messages_claim(limit=1)

    assert [m.id for m in claim.messages] == [early.pk]
    assert Message.objects.get(pk=late.pk).status == MessageStatus.QUEUED


def test_claim_leaves_future_scheduled_and_held_sendings_alone(account):
    now = timezone.now()
    sending = make_sending(account)
    make_messages(sending, 1, due_at=now + timedelta(minutes=1))
    make_messages(sending, 1, status=MessageStatus.SCHEDULED, due_at=now - timedelta(minutes=1))
    paused = make_sending(account, status=SendingStatus.PAUSED)
    make_messages(paused, 1)
    cancelled = make_sending(account, status=SendingStatus.CANCELLED)
    make_messages(cancelled, 1)

    assert messages_claim(limit=10).messages == []


def test_claim_names_the_account_route_before_the_default_route(account, other_user):
    route(Channel.SMS, "http_gateway", {"url": "http://127.0.0.1:9/"})
    route(Channel.SMS, "twilio", account=other_user.account)
    mine = make_messages(make_sending(account), 1)[0]
    theirs = make_messages(make_sending(other_user.account), 1)[0]
    email = make_messages(make_sending(account, channel=Channel.MAILING), 1)[0]

    claimed = {m.id: m.provider for m in messages_claim(limit=10).messages}

    assert claimed == {mine.pk: "http_gateway", theirs.pk: "twilio", email.pk: "simulator"}


# -- send and write back ---------------------------------------------------------------------------


def test_dispatch_to_the_simulator_sends_records_events_and_finishes_the_sending(account):
    sending = make_sending(account)
    make_messages(sending, 5)

    assert dispatch_due() == 5

    assert statuses(sending) == {MessageStatus.SENT: 5}
    assert set(Message.objects.filter(sending=sending).values_list("provider", flat=True)) == {"simulator"}
    assert all(m.provider_message_id.startswith("sim-") and m.sent_at for m in Message.objects.filter(sending=sending))
    assert Event.objects.filter(sending=sending, type="sent").count() == 5
    sending.refresh_from_db()
    assert (sending.sent, sending.processed, sending.status) == (5, 5, SendingStatus.FINISHED)
    assert sending.started_at is not None and sending.finished_at is not None


def test_a_sending_is_sending_until_its_last_message_is_processed(account):
    sending = make_sending(account)
    make_messages(sending, 3)
    make_messages(sending, 1, due_at=timezone.now() + timedelta(hours=1))

    dispatch_due()

    sending.refresh_from_db()
    assert (sending.status, sending.processed, sending.total) == (SendingStatus.SENDING, 3, 4)
    assert sending.finished_at is None


def test_a_batch_taking_provider_sends_the_whole_batch_in_one_request(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings())
    sending = make_sending(account)
    make_messages(sending, 40)

    dispatch_due()

    assert gateway.stats()["requests"] == 1
    assert statuses(sending) == {MessageStatus.SENT: 40}
    ids = set(Message.objects.filter(sending=sending).values_list("provider_message_id", flat=True))
    assert len(ids) == 40 and all(i.startswith("gw-") for i in ids)


def test_a_per_message_provider_gets_one_request_per_message_over_one_kept_alive_connection(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings(batch=False, concurrency=1))
    make_messages(make_sending(account), 12)

    dispatch_due(limit=5)

    assert gateway.stats() == {"requests": 12, "connections": 1, "received": 12, "distinct": 12, "duplicates": 0}


def test_a_per_message_provider_sends_a_batch_over_a_few_concurrent_kept_alive_connections(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings(batch=False, concurrency=3))
    sending = make_sending(account)
    make_messages(sending, 30)

    dispatch_due(limit=10)

    stats = gateway.stats()
    assert (stats["requests"], stats["distinct"], stats["duplicates"]) == (30, 30, 0)
    assert 1 <= stats["connections"] <= 3
    assert statuses(sending) == {MessageStatus.SENT: 30}


def test_write_back_is_set_based_its_query_count_does_not_grow_with_the_batch(account):
    def queries_for(count: int) -> int:
        sending = make_sending(account)
        make_messages(sending, count)
        claim = messages_claim(limit=count)
        with CaptureQueriesContext(connection) as captured:
            claim_dispatch(claim)
        assert statuses(sending) == {MessageStatus.SENT: count}
        return len(captured)

    assert queries_for(5) == queries_for(60)


def test_write_back_is_fenced_on_the_claim_token(account):
    sending = make_sending(account)
    message = make_messages(sending, 1)[0]
    claim = messages_claim(limit=1)
    # The reconciler took the message over meanwhile.
    Message.objects.filter(pk=message.pk).update(claim_token="reconciler")

    assert claim_dispatch(claim) == 0

    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == (MessageStatus.IN_FLIGHT, "")
    assert not Event.objects.filter(message=message).exists()
    sending.refresh_from_db()
    assert sending.processed == 0


def test_a_delivery_report_arriving_before_the_write_back_keeps_its_status(account):
    sending = make_sending(account)
    message = make_messages(sending, 1)[0]
    claim = messages_claim(limit=1)
    events_record(
        events=[DeliveryEvent(type="delivered", occurred_at=timezone.now(), message_public_id=message.public_id)]
    )

    claim_dispatch(claim)

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert message.provider_message_id == f"sim-{message.public_id}"
    sending.refresh_from_db()
    assert (sending.sent, sending.delivered, sending.processed) == (1, 1, 1)


def test_transient_failure_requeues_with_backoff_and_keeps_the_reason(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings())
    sending = make_sending(account)
    make_messages(sending, 3)
    gateway.fail_next(503)
    before = timezone.now()

    dispatch_due()

    rows = list(Message.objects.filter(sending=sending))
    assert {r.status for r in rows} == {MessageStatus.QUEUED}
    assert all(r.attempts == 1 and "503" in r.error_reason for r in rows)
    assert all(before + backoff(1) <= r.due_at <= timezone.now() + backoff(1) for r in rows)
    assert gateway.stats()["received"] == 0
    # Not due yet: nothing to claim until the backoff has passed.
    assert dispatch_due() == 0
    Message.objects.filter(sending=sending).update(due_at=timezone.now())
    dispatch_due()
    assert statuses(sending) == {MessageStatus.SENT: 3}
    sending.refresh_from_db()
    assert (sending.processed, sending.rejected, sending.sent) == (3, 0, 3)


def test_429_is_transient_too(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings())
    sending = make_sending(account)
    make_messages(sending, 2)
    gateway.fail_next(429)

    dispatch_due()

    assert statuses(sending) == {MessageStatus.QUEUED: 2}


def test_backoff_doubles_and_is_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff(30) == timedelta(hours=1)


@override_settings(DISPATCH_MAX_ATTEMPTS=2)
def test_transient_failures_reject_the_message_after_the_last_attempt(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings())
    sending = make_sending(account)
    message = make_messages(sending, 1)[0]
    gateway.fail_next(503, times=2)

    dispatch_due()
    Message.objects.filter(pk=message.pk).update(due_at=timezone.now())
    dispatch_due()

    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.REJECTED, 2)
    assert "gave up after 2 attempts" in message.error_reason
    assert Event.objects.get(message=message).type == "rejected"
    sending.refresh_from_db()
    assert (sending.rejected, sending.processed, sending.status) == (1, 1, SendingStatus.FINISHED)


def test_a_permanent_error_rejects_the_message_with_the_provider_reason(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings())
    sending = make_sending(account)
    bad, good = make_messages(sending, 2)
    gateway.reject(bad.public_id, status=400, error="invalid destination number")

    dispatch_due()

    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == MessageStatus.REJECTED
    assert "invalid destination number" in bad.error_reason and bad.error_code == "400"
    assert good.status == MessageStatus.SENT
    event = Event.objects.get(message=bad)
    assert event.type == "rejected" and "invalid destination number" in event.extra["reason"]
    sending.refresh_from_db()
    assert (sending.rejected, sending.sent, sending.processed) == (1, 1, 2)


def test_a_message_past_its_expiry_is_expired_not_sent(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings())
    sending = make_sending(account)
    message = make_messages(sending, 1, expires_at=timezone.now() - timedelta(seconds=1))[0]

    dispatch_due()

    message.refresh_from_db()
    assert message.status == MessageStatus.EXPIRED
    assert Event.objects.get(message=message).type == "expired"
    assert gateway.stats()["received"] == 0
    sending.refresh_from_db()
    assert (sending.expired, sending.processed) == (1, 1)


def test_a_route_changed_between_claim_and_send_hands_the_message_to_nobody(account, gateway):
    gateway_route = route(Channel.SMS, "http_gateway", gateway.provider_settings())
    message = make_messages(make_sending(account), 1)[0]
    claim = messages_claim(limit=1)
    gateway_route.provider = "twilio"
    gateway_route.save()

    claim_dispatch(claim)

    message.refresh_from_db()
    assert (message.status, message.provider) == (MessageStatus.QUEUED, "")
    assert gateway.stats()["received"] == 0


def test_an_unanswered_request_is_looked_up_by_the_reconciler_not_resent(account, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings(timeout=0.2))
    sending = make_sending(account)
    make_messages(sending, 3)
    gateway.latency = 0.5

    dispatch_due()

    rows = list(Message.objects.filter(sending=sending))
    assert {(r.status, r.claim_token) for r in rows} == {(MessageStatus.IN_FLIGHT, "")}
    gateway.latency = 0
    # Picked up on the reconciler's next run (token cleared), without waiting for the threshold.
    assert in_flight_reconcile() == {"sent": 3}
    assert statuses(sending) == {MessageStatus.SENT: 3}
    assert all(gateway.deliveries(r.public_id) == 1 for r in rows)
    assert Event.objects.filter(sending=sending, type="sent").count() == 3


def test_dispatch_due_stops_when_its_time_budget_is_spent(account):
    make_messages(make_sending(account), 10)

    assert dispatch_due(budget_seconds=0) == 0
    assert dispatch_due(limit=3) == 10


def test_messages_of_different_channels_and_accounts_go_to_their_own_providers(account, other_user, gateway):
    route(Channel.SMS, "http_gateway", gateway.provider_settings(), account=account)
    mine = make_messages(make_sending(account), 2)
    theirs = make_messages(make_sending(other_user.account), 2)

    dispatch_due()

    assert {m.provider for m in Message.objects.filter(pk__in=[x.pk for x in mine])} == {"http_gateway"}
    assert {m.provider for m in Message.objects.filter(pk__in=[x.pk for x in theirs])} == {"simulator"}
    assert gateway.stats()["received"] == 2
    assert ProviderRoute.objects.count() == 1


# -- reconciliation --------------------------------------------------------------------------------


class NoLookupProvider(Provider):
    """A provider that cannot say whether it took a message (the base class's lookup)."""

    name = "nolookup"

    def send(self, message):
        return "x"


def test_reconciliation_settles_each_of_its_three_outcomes(account, gateway, monkeypatch):
    monkeypatch.setitem(PROVIDERS, "nolookup", "tests.messaging.test_dispatch.NoLookupProvider")
    route(Channel.SMS, "http_gateway", gateway.provider_settings())
    route(Channel.MAILING, "nolookup")
    sending = make_sending(account)
    taken, not_taken = make_messages(sending, 2)
    email_sending = make_sending(account, channel=Channel.MAILING)
    unknowable = make_messages(email_sending, 1)[0]
    messages_claim(limit=10)
    # The worker died after the gateway took one message, before writing anything back.
    HttpGatewayProvider(gateway.provider_settings()).send_batch(
        [
            OutboundMessage(
                message_id=taken.pk, public_id=taken.public_id, channel="sms", sender="A", recipient="1", body="x"
            )
        ]
    )

    assert in_flight_reconcile(older_than=timedelta(0)) == {"sent": 1, "queued": 1, "unknown": 1}

    taken.refresh_from_db()
    not_taken.refresh_from_db()
    unknowable.refresh_from_db()
    assert (taken.status, taken.provider_message_id) == (MessageStatus.SENT, gateway.accepted[taken.public_id])
    assert (not_taken.status, not_taken.provider, not_taken.attempts) == (MessageStatus.QUEUED, "", 1)
    assert not_taken.due_at > timezone.now()
    assert unknowable.status == MessageStatus.UNKNOWN
    assert "cannot tell whether it took the message" in unknowable.error_reason
    assert gateway.deliveries(not_taken.public_id) == 0
    sending.refresh_from_db()
    email_sending.refresh_from_db()
    assert (sending.sent, sending.processed, email_sending.processed) == (1, 1, 1)


def test_reconciliation_waits_for_longer_than_the_task_timeout(account):
    make_messages(make_sending(account), 1)
    messages_claim(limit=1)

    assert in_flight_reconcile() == {}
    assert dispatch.stale_after() > timedelta(seconds=settings.Q_CLUSTER["timeout"])
    later = timezone.now() + dispatch.stale_after() + timedelta(seconds=1)
    # The simulator never got it (the claim was all that happened): back to the queue.
    assert in_flight_reconcile(now=later) == Counter({"queued": 1})


def test_a_failed_lookup_leaves_the_message_in_flight_for_the_next_run(account):
    route(Channel.SMS, "http_gateway", {"url": "http://127.0.0.1:9/messages", "secret": "s"})
    message = make_messages(make_sending(account), 1)[0]
    messages_claim(limit=1)

    assert in_flight_reconcile(older_than=timedelta(0)) == {"pending": 1}

    message.refresh_from_db()
    assert (message.status, message.claim_token) == (MessageStatus.IN_FLIGHT, "")


def test_a_message_never_assigned_to_a_provider_goes_back_to_the_queue(account):
    message = make_messages(make_sending(account), 1, status=MessageStatus.IN_FLIGHT,
                            claimed_at=timezone.now() - timedelta(hours=1))[0]  # fmt: skip

    assert in_flight_reconcile() == {"queued": 1}
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED


# -- tasks and schedules ---------------------------------------------------------------------------


def test_migrate_created_the_periodic_schedules_and_ensuring_them_again_changes_nothing():
    from django_q.models import Schedule

    from messaging.tasks import SCHEDULES, ensure_schedules

    assert set(Schedule.objects.values_list("func", flat=True)) >= set(SCHEDULES.values())
    ensure_schedules()
    schedules = Schedule.objects.filter(func__in=SCHEDULES.values())
    assert schedules.count() == len(SCHEDULES)
    assert {(s.schedule_type, s.minutes, s.repeats) for s in schedules} == {(Schedule.MINUTES, 1, -1)}


def test_kick_dispatch_enqueues_a_dispatch_when_the_transaction_commits(
    monkeypatch, django_capture_on_commit_callbacks
):
    from messaging.tasks import kick_dispatch

    enqueued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kwargs: enqueued.append(func))

    with django_capture_on_commit_callbacks(execute=True):
        kick_dispatch()
        assert enqueued == []

    assert enqueued == ["messaging.tasks.dispatch_due"]


def test_the_dispatch_task_sends_due_messages(account):
    from messaging.tasks import dispatch_due as dispatch_task

    make_messages(make_sending(account), 2)

    assert dispatch_task() == 2


def test_a_message_due_behind_the_runs_cursor_is_still_sent_by_the_same_run(account, monkeypatch):
    sending = make_sending(account)
    make_messages(sending, 4)
    real_send = dispatch.claim_send
    late = []

    def send_then_release_an_old_message(claim):
        outcomes = real_send(claim)
        if not late:
            # Released by the scheduler meanwhile, due long before the cursor.
            late.extend(make_messages(sending, 1, due_at=timezone.now() - timedelta(days=1)))
        return outcomes

    monkeypatch.setattr(dispatch, "claim_send", send_then_release_an_old_message)

    assert dispatch_due(limit=2) == 5
    assert statuses(sending) == {MessageStatus.SENT: 5}


def test_successive_claims_of_a_run_start_after_the_previous_one(account):
    sending = make_sending(account)
    first, second, third = make_messages(sending, 3)

    claim = messages_claim(limit=1)
    Message.objects.filter(pk=claim.messages[0].id).update(status=MessageStatus.QUEUED)  # as if requeued

    assert [m.id for m in messages_claim(limit=5, after=claim.last_key).messages] == [second.pk, third.pk]
    assert claim.last_key == (first.due_at, first.pk)
