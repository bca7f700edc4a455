import json
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from campaigns.models import Channel
from messaging import dispatch
from messaging.dispatch import dispatch_due, in_flight_reconcile, messages_claim
from messaging.models import Event, InboundWebhook, Message, MessageStatus, SimulatedDelivery
from messaging.providers import provider_class
from messaging.providers.base import OutboundMessage, WebhookRejected
from messaging.providers.simulator import (
    SIGNATURE_HEADER,
    SimulatorProvider,
    planned_events,
    simulator_reports_emit,
    simulator_signature,
)
from messaging.tasks import simulator_report
from tests.messaging.pipeline_factories import make_messages, make_sending, route


def outcome(settings, public_id, channel="sms") -> list[str]:
    return [e["type"] for e in planned_events(settings, public_id=public_id, channel=channel)]


def test_outcomes_are_a_pure_function_of_seed_and_public_id():
    ids = [f"id{n}" for n in range(200)]

    first = [outcome({"seed": "a"}, i) for i in ids]

    assert first == [outcome({"seed": "a"}, i) for i in ids]
    assert first != [outcome({"seed": "b"}, i) for i in ids]


def test_default_rates_deliver_about_ninety_percent_of_sms_the_rest_undelivered():
    outcomes = [outcome({}, f"id{n}") for n in range(4000)]

    delivered = outcomes.count(["delivered"]) / len(outcomes)
    assert 0.88 <= delivered <= 0.92
    assert {tuple(o) for o in outcomes} == {("delivered",), ("undelivered",)}


def test_rates_are_configurable():
    assert {tuple(outcome({"delivered_rate": 0}, f"id{n}")) for n in range(100)} == {("undelivered",)}
    assert {tuple(outcome({"delivered_rate": 1}, f"id{n}")) for n in range(100)} == {("delivered",)}


def test_email_bounces_hard_and_delivered_email_is_opened_and_clicked_at_its_rates():
    outcomes = [outcome({"opened_rate": 0.5, "clicked_rate": 0.2}, f"id{n}", "mailing") for n in range(4000)]

    bounced = sum(o == ["hard_bounced"] for o in outcomes) / len(outcomes)
    delivered = [o for o in outcomes if o[0] == "delivered"]
    opened = sum("opened" in o for o in delivered) / len(delivered)
    clicked = sum("clicked" in o for o in delivered) / len(delivered)
    assert 0.08 <= bounced <= 0.12
    assert 0.5 <= opened <= 0.65  # opens plus the clickers who did not "open" by the open draw
    assert 0.17 <= clicked <= 0.23
    assert all("opened" in o for o in delivered if "clicked" in o)


def test_reports_never_happen_after_the_report_delay():
    for n in range(200):
        events = planned_events({"report_delay_seconds": 8}, public_id=f"id{n}", channel="mailing")
        assert all(0 < e["offset"] <= 8 for e in events)


@pytest.mark.django_db
def test_the_simulator_is_the_registered_default_and_remembers_what_it_took():
    provider = provider_class("simulator")({})
    message = OutboundMessage(message_id=1, public_id="abc", channel="sms", sender="ACME", recipient="1", body="x")

    assert provider.lookup(message) is None
    [result] = provider.send_batch([message])

    assert result.accepted and result.provider_message_id == "sim-abc"
    assert provider.lookup(message) == "sim-abc"
    assert SimulatedDelivery.objects.get().planned_events == planned_events({}, public_id="abc", channel="sms")


@pytest.mark.django_db
def test_simulated_reports_go_through_the_webhook_store_and_update_messages_and_counters(account):
    route(Channel.MAILING, "simulator", {"seed": "demo", "delivered_rate": 0.8, "opened_rate": 0.5})
    sending = make_sending(account, channel=Channel.MAILING)
    messages = make_messages(sending, 50)
    dispatch._provider_cache.clear()
    dispatch_due()

    assert simulator_reports_emit() == 0  # not due yet
    reported = simulator_reports_emit(now=timezone.now() + timedelta(seconds=10))

    webhook = InboundWebhook.objects.get()
    assert webhook.provider == "simulator" and webhook.processed_at is not None
    assert len(json.loads(bytes(webhook.body))["events"]) == reported
    expected = {m.public_id: outcome({"seed": "demo", "delivered_rate": 0.8, "opened_rate": 0.5}, m.public_id,
                                     "mailing") for m in messages}  # fmt: skip
    final = dict(Message.objects.filter(sending=sending).values_list("public_id", "status"))
    assert final == {pid: events[0] for pid, events in expected.items()}
    sending.refresh_from_db()
    assert sending.sent == 50
    assert sending.delivered == sum(e[0] == "delivered" for e in expected.values())
    assert sending.hard_bounced == 50 - sending.delivered
    assert sending.opened == sum("opened" in e for e in expected.values())
    assert Event.objects.filter(sending=sending).count() == 50 + reported
    # Reported once: running again reports nothing more.
    assert simulator_reports_emit(now=timezone.now() + timedelta(seconds=10)) == 0


@pytest.mark.django_db
def test_the_simulator_report_task_drains_every_due_report(account):
    route(Channel.SMS, "simulator", {"report_delay_seconds": 0})
    sending = make_sending(account)
    make_messages(sending, 12)
    dispatch._provider_cache.clear()
    dispatch_due()

    assert simulator_report() == 12
    sending.refresh_from_db()
    assert sending.delivered + sending.undelivered == 12


@pytest.mark.django_db
def test_a_message_left_in_flight_at_the_simulator_is_reconciled_by_lookup(account):
    sending = make_sending(account)
    taken, never_sent = make_messages(sending, 2)
    messages_claim(limit=2)
    SimulatorProvider().send_batch(
        [OutboundMessage(message_id=taken.pk, public_id=taken.public_id, channel="sms", sender="A", recipient="1",
                         body="x")]
    )  # fmt: skip

    assert in_flight_reconcile(older_than=timedelta(0)) == {"sent": 1, "queued": 1}

    taken.refresh_from_db()
    never_sent.refresh_from_db()
    assert (taken.status, taken.provider_message_id) == (MessageStatus.SENT, f"sim-{taken.public_id}")
    assert (never_sent.status, never_sent.provider) == (MessageStatus.QUEUED, "")


def test_simulator_webhooks_must_carry_its_signature():
    body = b'{"events": []}'
    factory = RequestFactory()
    good = factory.post("/webhooks/simulator", body, content_type="application/json",
                        headers={SIGNATURE_HEADER: simulator_signature(body)})  # fmt: skip
    bad = factory.post("/webhooks/simulator", body, content_type="application/json", headers={SIGNATURE_HEADER: "x"})

    SimulatorProvider().verify_webhook(good)
    with pytest.raises(WebhookRejected):
        SimulatorProvider().verify_webhook(bad)


def test_parse_webhook_reads_what_the_simulator_writes():
    body = json.dumps(
        {"events": [{"id": "sim-a:delivered", "message_id": "sim-a", "reference": "a", "type": "delivered",
                     "occurred_at": "2024-01-01T10:00:00+00:00", "reason": "", "url": "", "user_agent": ""}]}
    ).encode()  # fmt: skip

    [event] = SimulatorProvider().parse_webhook("application/json", body)

    assert (event.type, event.provider, event.provider_event_id, event.message_public_id) == (
        "delivered", "simulator", "sim-a:delivered", "a",
    )  # fmt: skip
    with pytest.raises(ValueError):
        SimulatorProvider().parse_webhook("application/json", b"[]")
