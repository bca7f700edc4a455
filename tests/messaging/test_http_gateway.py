"""The generic HTTP gateway provider against its local fake (tests/fakes/http_gateway.py)."""

import http.client
import json
import socket
import time

import pytest
from django.test import RequestFactory

from messaging.dispatch import MAYBE_SENT as DISPATCH_MAYBE_SENT
from messaging.providers import provider_class
from messaging.providers.base import OutboundMessage, ProviderError, WebhookRejected
from messaging.providers.http_gateway import MAYBE_SENT, HttpGatewayProvider
from tests.fakes.http_gateway import FakeGateway, signed_headers


@pytest.fixture
def gateway():
    with FakeGateway() as fake:
        yield fake


def outbound(n: int, channel: str = "sms") -> OutboundMessage:
    return OutboundMessage(
        message_id=n, public_id=f"ref{n}", channel=channel, sender="ACME", recipient=f"3466600{n:04d}", body=f"hi {n}",
        options={"flash": False},
    )  # fmt: skip


def test_it_is_registered_and_shares_the_dispatchers_maybe_sent_code():
    assert provider_class("http_gateway") is HttpGatewayProvider
    assert MAYBE_SENT == DISPATCH_MAYBE_SENT


def test_a_batch_goes_in_one_signed_request_and_each_message_gets_the_gateways_id(gateway):
    provider = HttpGatewayProvider(gateway.provider_settings())

    results = provider.send_batch([outbound(n) for n in range(5)])

    assert [r.message_id for r in results] == list(range(5))
    assert all(r.accepted and r.provider_message_id.startswith("gw-") for r in results)
    assert gateway.stats()["requests"] == 1 and gateway.rejected_signatures == 0
    first = gateway.received[0]
    assert first == {
        "reference": "ref0", "channel": "sms", "from": "ACME", "to": "34666000000", "subject": "", "body": "hi 0",
        "encoding": "", "parts": 1, "options": {"flash": False},
    }  # fmt: skip


def test_batches_larger_than_batch_size_are_split(gateway):
    provider = HttpGatewayProvider(gateway.provider_settings(batch_size=4))

    results = provider.send_batch([outbound(n) for n in range(10)])

    assert len(results) == 10 and all(r.accepted for r in results)
    assert gateway.stats()["requests"] == 3


def test_without_batches_it_sends_one_request_per_message_on_one_kept_alive_connection(gateway):
    provider = HttpGatewayProvider(gateway.provider_settings(batch=False, concurrency=1))

    results = provider.send_batch([outbound(n) for n in range(6)])
    provider.send_batch([outbound(n) for n in range(6, 9)])

    assert all(r.accepted for r in results)
    assert gateway.stats()["requests"] == 9
    assert len(gateway.connections) == 1


def test_each_request_leaves_in_one_write_headers_and_body_together(gateway, monkeypatch):
    writes: list[bytes] = []
    real_send = http.client.HTTPConnection.send

    def counting_send(self, data):
        writes.append(bytes(data))
        return real_send(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", counting_send)
    provider = HttpGatewayProvider(gateway.provider_settings(batch=False, concurrency=1))

    results = provider.send_batch([outbound(n) for n in range(3)])

    assert all(r.accepted for r in results) and gateway.rejected_signatures == 0
    assert len(writes) == 3
    assert all(w.startswith(b"POST /messages HTTP/1.1\r\n") and w.endswith(b"}]}") for w in writes)


def test_a_wrong_secret_is_refused_by_the_gateway_as_a_permanent_error(gateway):
    provider = HttpGatewayProvider(gateway.provider_settings(secret="wrong"))

    [result] = provider.send_batch([outbound(1)])

    assert not result.accepted and result.error.permanent and result.error.code == "401"
    assert gateway.rejected_signatures == 1 and gateway.stats()["received"] == 0


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (422, True), (429, False), (503, False)])
def test_per_message_errors_are_permanent_for_4xx_and_transient_for_429_and_5xx(gateway, status, permanent):
    gateway.reject("ref2", status=status, error="nope")
    provider = HttpGatewayProvider(gateway.provider_settings())

    results = provider.send_batch([outbound(1), outbound(2), outbound(3)])

    assert [r.accepted for r in results] == [True, False, True]
    assert results[1].error.permanent is permanent
    assert "nope" in results[1].error.reason and results[1].error.code == str(status)


@pytest.mark.parametrize(("status", "permanent"), [(429, False), (500, False), (502, False), (400, True)])
def test_whole_request_errors_apply_to_every_message(gateway, status, permanent):
    gateway.fail_next(status)
    provider = HttpGatewayProvider(gateway.provider_settings())

    results = provider.send_batch([outbound(1), outbound(2)])

    assert [(r.accepted, r.error.permanent) for r in results] == [(False, permanent)] * 2
    assert gateway.stats()["received"] == 0


def test_a_refused_connection_is_transient_and_certainly_not_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = HttpGatewayProvider({"url": f"http://127.0.0.1:{port}/messages", "secret": "s"})

    [result] = provider.send_batch([outbound(1)])

    assert not result.error.permanent and result.error.code != MAYBE_SENT


def test_an_unanswered_request_is_maybe_sent(gateway):
    gateway.latency = 0.5
    provider = HttpGatewayProvider(gateway.provider_settings(timeout=0.1))

    [result] = provider.send_batch([outbound(1)])

    assert not result.error.permanent and result.error.code == MAYBE_SENT
    assert gateway.deliveries("ref1") == 1


def test_send_raises_for_a_single_message_error(gateway):
    gateway.reject("ref1", status=400, error="bad number")

    with pytest.raises(ProviderError, match="bad number"):
        HttpGatewayProvider(gateway.provider_settings()).send(outbound(1))


def test_lookup_by_our_reference(gateway):
    provider = HttpGatewayProvider(gateway.provider_settings())
    [sent] = provider.send_batch([outbound(1)])

    assert provider.lookup(outbound(1)) == sent.provider_message_id
    assert provider.lookup(outbound(2)) is None


def test_lookup_failure_is_a_provider_error_not_a_no(gateway):
    provider = HttpGatewayProvider({"url": "http://127.0.0.1:9/messages", "secret": "s", "connect_timeout": 0.2})

    with pytest.raises(ProviderError):
        provider.lookup(outbound(1))


def test_secrets_stay_out_of_the_providers_repr(gateway):
    assert "fake-gateway-secret" not in repr(HttpGatewayProvider(gateway.provider_settings()))


# -- delivery reports ----------------------------------------------------------------------------

REPORT = {
    "events": [
        {"id": "ev1", "message_id": "gw-1", "reference": "ref1", "status": "delivered",
         "timestamp": "2024-01-01T10:00:00Z"},
        {"id": "ev2", "message_id": "gw-2", "status": "undelivered", "timestamp": "2024-01-01T10:00:01+00:00",
         "reason": "absent subscriber"},
    ]
}  # fmt: skip


def report_request(body: bytes, headers: dict[str, str]):
    extra = {k: v for k, v in headers.items() if k != "Content-Type"}
    return RequestFactory().post("/webhooks/http_gateway", body, content_type="application/json", headers=extra)


def test_a_signed_delivery_report_is_accepted_and_parsed():
    provider = HttpGatewayProvider({"secret": "s3"})
    body = json.dumps(REPORT).encode()

    provider.verify_webhook(report_request(body, signed_headers("s3", body)))
    delivered, undelivered = provider.parse_webhook("application/json", body)

    assert (delivered.type, delivered.provider, delivered.provider_event_id, delivered.message_public_id) == (
        "delivered", "http_gateway", "ev1", "ref1",
    )  # fmt: skip
    assert delivered.occurred_at.isoformat() == "2024-01-01T10:00:00+00:00"
    assert (undelivered.provider_message_id, undelivered.message_public_id, undelivered.reason) == (
        "gw-2", "", "absent subscriber",
    )  # fmt: skip


def test_the_webhook_secret_may_differ_from_the_sending_secret():
    body = json.dumps(REPORT).encode()

    HttpGatewayProvider({"secret": "s3", "webhook_secret": "w"}).verify_webhook(
        report_request(body, signed_headers("w", body))
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Gateway-Timestamp": str(int(time.time())), "X-Gateway-Signature": "0" * 64},
        signed_headers("other", json.dumps(REPORT).encode()),
        signed_headers("s3", json.dumps(REPORT).encode(), timestamp=int(time.time()) - 3600),
    ],
    ids=["unsigned", "bad signature", "other secret", "replayed an hour later"],
)
def test_a_report_without_a_valid_recent_signature_is_rejected(headers):
    body = json.dumps(REPORT).encode()

    with pytest.raises(WebhookRejected):
        HttpGatewayProvider({"secret": "s3"}).verify_webhook(report_request(body, headers))


def test_a_report_with_a_tampered_body_is_rejected():
    body = json.dumps(REPORT).encode()
    headers = signed_headers("s3", body)

    with pytest.raises(WebhookRejected):
        HttpGatewayProvider({"secret": "s3"}).verify_webhook(report_request(body.replace(b"ev1", b"ev9"), headers))


def test_an_unreadable_report_is_a_value_error():
    with pytest.raises(ValueError):
        HttpGatewayProvider({"secret": "s3"}).parse_webhook("application/json", b"{}")
