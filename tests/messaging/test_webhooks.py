"""Webhook ingest: the generic provider endpoint, batch processing, failures kept, concurrency."""

import json
import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.utils.crypto import salted_hmac

import messaging.webhooks as webhooks
from messaging.models import Event, InboundWebhook, MessageStatus, ProviderRoute
from messaging.providers.simulator import simulator_signature
from messaging.webhooks import inbound_webhooks_process, inbound_webhooks_retry
from tests.fakes.http_gateway import signed_headers
from tests.messaging.provider_contract import (
    WebhookRequest,
    WebhookSignatureContract,
    fresh_webhook_state,  # noqa: F401  (autouse)
    message_create,
    post,
)

GATEWAY_SECRET = "gateway-webhook-secret"


def inbound_webhook_store(*, provider: str, content_type: str, body: bytes) -> InboundWebhook:
    """The service stores and returns the id; tests want the row."""
    return InboundWebhook.objects.get(
        pk=webhooks.inbound_webhook_store(provider=provider, content_type=content_type, body=body)
    )


def gateway_report(*reports: dict) -> bytes:
    return json.dumps({"events": list(reports)}).encode()


def gateway_event(message, status: str = "delivered", event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"ev-{message.public_id}-{status}",
        "message_id": message.provider_message_id,
        "reference": message.public_id,
        "status": status,
        "timestamp": "2024-05-01T10:00:00+00:00",
    }


def gateway_request(body: bytes, secret: str = GATEWAY_SECRET) -> WebhookRequest:
    headers = signed_headers(secret, body)
    del headers["Content-Type"]
    return WebhookRequest("/webhooks/http_gateway/", body, "application/json", headers)


class TestHttpGatewayWebhookContract(WebhookSignatureContract):
    provider = "http_gateway"

    def configure(self, account):
        ProviderRoute.objects.create(
            account=account,
            channel="sms",
            provider="http_gateway",
            settings={"url": "http://127.0.0.1:9/messages", "secret": GATEWAY_SECRET},
        )

    def message_for(self, account):
        return message_create(account, provider="http_gateway", provider_message_id="gw-1")

    def delivered_report(self, message):
        return gateway_request(gateway_report(gateway_event(message)))

    def tampered(self, request):
        return WebhookRequest(
            request.path, request.body.replace(b"delivered", b"undelivered"), request.content_type, request.headers
        )

    def unsigned(self, request):
        return request.without_headers("X-Gateway-Signature")

    def wrong_secret(self, message):
        return gateway_request(gateway_report(gateway_event(message)), secret="not-ours")


def simulator_request(body: bytes, signature: str | None = None) -> WebhookRequest:
    return WebhookRequest(
        "/webhooks/simulator/",
        body,
        "application/json",
        {"X-Simulator-Signature": signature if signature is not None else simulator_signature(body)},
    )


class TestSimulatorWebhookContract(WebhookSignatureContract):
    provider = "simulator"

    def configure(self, account):
        pass

    def message_for(self, account):
        return message_create(account, provider="simulator", provider_message_id="sim-1")

    def _body(self, message) -> bytes:
        report = {
            "type": "delivered",
            "occurred_at": "2024-05-01T10:00:00+00:00",
            "id": f"sim-{message.public_id}-delivered",
            "message_id": message.provider_message_id,
            "reference": message.public_id,
        }
        return json.dumps({"events": [report]}).encode()

    def delivered_report(self, message):
        return simulator_request(self._body(message))

    def tampered(self, request):
        return WebhookRequest(
            request.path, request.body.replace(b"delivered", b"undelivered"), request.content_type, request.headers
        )

    def unsigned(self, request):
        return request.without_headers("X-Simulator-Signature")

    def wrong_secret(self, message):
        body = self._body(message)
        forged = salted_hmac("messaging.providers.simulator", body, secret="another-key", algorithm="sha256")
        return simulator_request(body, forged.hexdigest())


@pytest.fixture
def gateway_route(account):
    return ProviderRoute.objects.create(
        account=account,
        channel="sms",
        provider="http_gateway",
        settings={"url": "http://127.0.0.1:9/messages", "secret": GATEWAY_SECRET},
    )


def test_a_batched_report_is_stored_as_one_row_and_recorded_in_one_call(account, gateway_route, monkeypatch):
    messages = [message_create(account, provider="http_gateway", provider_message_id=f"gw-{n}") for n in range(50)]
    body = gateway_report(*[gateway_event(m) for m in messages])
    assert post(gateway_request(body)).status_code == 200
    assert InboundWebhook.objects.count() == 1

    calls = []
    from messaging import events

    real = events.events_store
    monkeypatch.setattr(events, "events_store", lambda *, events: calls.append(len(events)) or real(events=events))
    assert inbound_webhooks_process() == 1
    assert calls == [50]
    assert Event.objects.filter(type="delivered").count() == 50
    messages[0].sending.refresh_from_db()
    assert messages[0].sending.delivered == 1


def test_many_rows_are_processed_in_batches_with_one_record_call_each(account, monkeypatch):
    messages = [message_create(account, provider="http_gateway", provider_message_id=f"gw-{n}") for n in range(7)]
    for message in messages:
        inbound_webhook_store(
            provider="http_gateway", content_type="application/json", body=gateway_report(gateway_event(message))
        )
    calls = []
    from messaging import events

    real = events.events_store
    monkeypatch.setattr(events, "events_store", lambda *, events: calls.append(len(events)) or real(events=events))
    assert webhooks.process_inbound_webhooks(batch_size=3, linger=0) == 7
    assert calls == [3, 3, 1]
    assert not InboundWebhook.objects.filter(processed_at__isnull=True).exists()


def test_a_row_that_fails_to_parse_keeps_its_error_and_the_batch_goes_on(account):
    message = message_create(account, provider="http_gateway", provider_message_id="gw-ok")
    bad = inbound_webhook_store(provider="http_gateway", content_type="application/json", body=b'{"nope": 1}')
    good = inbound_webhook_store(
        provider="http_gateway", content_type="application/json", body=gateway_report(gateway_event(message))
    )
    inbound_webhooks_process()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.processed_at is None and "events" in bad.error
    assert good.processed_at is not None
    assert Event.objects.filter(message=message).count() == 1


def test_a_row_whose_events_cannot_be_recorded_is_isolated_and_kept(account, monkeypatch):
    message = message_create(account, provider="http_gateway", provider_message_id="gw-ok")
    poison = inbound_webhook_store(
        provider="http_gateway",
        content_type="application/json",
        body=gateway_report({**gateway_event(message), "status": "no_such_type", "id": "poison"}),
    )
    good = inbound_webhook_store(
        provider="http_gateway", content_type="application/json", body=gateway_report(gateway_event(message))
    )
    from messaging import events

    real = events.events_store

    def fragile(*, events):
        if any(e.type == "no_such_type" for e in events):
            raise ValueError("unknown event type")
        return real(events=events)

    monkeypatch.setattr(events, "events_store", fragile)
    inbound_webhooks_process()
    poison.refresh_from_db()
    good.refresh_from_db()
    assert poison.processed_at is None and "unknown event type" in poison.error
    assert good.processed_at is not None
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_retry_puts_a_failed_row_back_in_the_queue(account):
    message = message_create(account, provider="http_gateway", provider_message_id="gw-1")
    row = inbound_webhook_store(provider="http_gateway", content_type="application/json", body=b"not json")
    inbound_webhooks_process()
    row.refresh_from_db()
    assert row.error
    # The cause is fixed (here: the body is what it should have been) and an operator retries.
    InboundWebhook.objects.filter(pk=row.pk).update(body=gateway_report(gateway_event(message)))
    assert inbound_webhooks_retry(ids=[row.pk]) == 1
    inbound_webhooks_process()
    row.refresh_from_db()
    assert row.processed_at is not None and row.error == ""


def test_processing_specific_rows_leaves_the_others(account):
    first = inbound_webhook_store(provider="http_gateway", content_type="application/json", body=b'{"events": []}')
    second = inbound_webhook_store(provider="http_gateway", content_type="application/json", body=b'{"events": []}')
    assert inbound_webhooks_process(ids=[second.pk]) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.processed_at is None and second.processed_at is not None


def test_storing_a_webhook_queues_processing_once_it_commits(monkeypatch, django_capture_on_commit_callbacks, db):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kwargs: queued.append(func))
    monkeypatch.setattr(webhooks, "_last_kick", 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        inbound_webhook_store(provider="simulator", content_type="application/json", body=b"{}")
        inbound_webhook_store(provider="simulator", content_type="application/json", body=b"{}")
    # Two webhooks within the kick interval queue one task: it drains both.
    assert queued == ["messaging.webhooks.process_inbound_webhooks"]


def test_route_changes_are_seen_by_the_webhook_view_at_once(account):
    message = message_create(account, provider="http_gateway", provider_message_id="gw-1")
    body = gateway_report(gateway_event(message))
    assert post(gateway_request(body)).status_code == 403
    ProviderRoute.objects.create(
        account=account, channel="sms", provider="http_gateway", settings={"url": "x", "secret": GATEWAY_SECRET}
    )
    assert post(gateway_request(body)).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_processors_never_take_the_same_rows(account):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is a PostgreSQL feature")
    messages = [message_create(account, provider="http_gateway", provider_message_id=f"gw-{n}") for n in range(4)]
    rows = [
        inbound_webhook_store(
            provider="http_gateway", content_type="application/json", body=gateway_report(gateway_event(m))
        )
        for m in messages
    ]
    held = threading.Event()
    release = threading.Event()

    def hold_first_two() -> None:
        from django.db import connection as thread_connection

        with transaction.atomic():
            list(InboundWebhook.objects.select_for_update().filter(pk__in=[rows[0].pk, rows[1].pk]))
            held.set()
            release.wait(10)
        thread_connection.close()

    holder = threading.Thread(target=hold_first_two)
    holder.start()
    assert held.wait(10)
    try:
        # The rows another worker holds are skipped, not waited for nor processed twice.
        assert inbound_webhooks_process() == 2
    finally:
        release.set()
        holder.join()
    processed = set(InboundWebhook.objects.filter(processed_at__isnull=False).values_list("pk", flat=True))
    assert processed == {rows[2].pk, rows[3].pk}
    assert inbound_webhooks_process() == 2
    assert Event.objects.count() == 4


def test_received_time_is_available_to_parsers_while_processing(account, monkeypatch):
    seen = []
    from messaging.providers.http_gateway import HttpGatewayProvider

    def spy(self, content_type, body):
        seen.append(webhooks.webhook_received_at.get())
        return []

    monkeypatch.setattr(HttpGatewayProvider, "parse_webhook", spy)
    row = inbound_webhook_store(provider="http_gateway", content_type="application/json", body=b"{}")
    inbound_webhooks_process()
    assert seen == [row.received_at]
    assert webhooks.webhook_received_at.get() is None
    assert isinstance(row.received_at, datetime) and row.received_at.tzinfo is not None
    assert row.received_at <= datetime.now(UTC)
