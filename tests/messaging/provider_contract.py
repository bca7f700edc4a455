"""The webhook contract every provider passes (in the manner of anymail's webhook test cases),
plus helpers to make messages for provider tests.

Subclass `WebhookSignatureContract` in a test module (its name must start with "Test") and
implement:
    provider         the name stored on InboundWebhook rows (e.g. "twilio", "anymail")
    configure(account)           create the routes the provider needs
    configure_settings(settings) optional: Django settings it needs
    message_for(account)         a Message the provider's reports will name
    delivered_report(message)    a correctly authenticated `WebhookRequest` reporting `delivered`
    tampered(request)            the same request with a signed part changed
    unsigned(request)            the same request without its signature / credentials
    wrong_secret(message)        a report authenticated with a secret that is not ours

The contract then proves: a valid report is answered 200 and stored; tampered, unsigned and
wrongly signed reports are answered 403, logged, and store nothing; the same report delivered
twice is recorded and counted once.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from campaigns.models import Campaign, Sending
from messaging import webhooks
from messaging.models import Event, InboundWebhook, Message, MessageStatus
from messaging.webhooks import inbound_webhooks_process

_public_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_webhook_state():
    """Test transactions roll routes back without signals: forget the routes cached by the view.
    Import this fixture into a test module to make it apply there."""
    webhooks._route_cache.clear()
    yield
    webhooks._route_cache.clear()


def sending_create(account: Account, *, channel: str = "sms", campaign_name: str | None = None) -> Sending:
    campaign = Campaign.objects.create(account=account, name=campaign_name) if campaign_name else None
    return Sending.objects.create(account=account, channel=channel, campaign=campaign, total=1)


def message_create(
    account: Account,
    *,
    sending: Sending | None = None,
    channel: str = "sms",
    status: str = MessageStatus.SENT,
    provider: str = "",
    provider_message_id: str = "",
    recipient: str = "34666555444",
    sender: str = "ACME",
    body: str = "Hello from ACME",
    **fields: Any,
) -> Message:
    sending = sending or sending_create(account, channel=channel)
    now = timezone.now()
    return Message.objects.create(
        public_id=f"T{next(_public_ids):011d}",
        account=account,
        sending=sending,
        channel=channel,
        sender=sender,
        recipient=recipient,
        body=body,
        status=status,
        due_at=now,
        provider=provider,
        provider_message_id=provider_message_id,
        **{"sent_at": now if status == MessageStatus.SENT else None, **fields},
    )


@dataclass(frozen=True)
class WebhookRequest:
    path: str
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def without_headers(self, *names: str) -> WebhookRequest:
        lowered = {name.lower() for name in names}
        return replace(self, headers={k: v for k, v in self.headers.items() if k.lower() not in lowered})


def post(request: WebhookRequest, client: Client | None = None):
    return (client or Client()).generic(
        "POST", request.path, data=request.body, content_type=request.content_type, headers=request.headers
    )


class WebhookSignatureContract:
    provider: str = ""

    # To implement ---------------------------------------------------------------------------

    def configure(self, account: Account) -> None:
        raise NotImplementedError

    def message_for(self, account: Account) -> Message:
        raise NotImplementedError

    def delivered_report(self, message: Message) -> WebhookRequest:
        raise NotImplementedError

    def tampered(self, request: WebhookRequest) -> WebhookRequest:
        raise NotImplementedError

    def unsigned(self, request: WebhookRequest) -> WebhookRequest:
        raise NotImplementedError

    def wrong_secret(self, message: Message) -> WebhookRequest:
        raise NotImplementedError

    # The contract ---------------------------------------------------------------------------

    def configure_settings(self, settings: Any) -> None:
        """Django settings the provider needs (pytest-django's `settings` fixture)."""

    @pytest.fixture(autouse=True)
    def _configured(self, account: Account, settings: Any) -> None:
        self.configure_settings(settings)
        self.configure(account)

    @pytest.fixture
    def message(self, account: Account) -> Message:
        return self.message_for(account)

    def _assert_refused(self, request: WebhookRequest, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="messaging.webhooks"):
            response = post(request)
        assert response.status_code == 403
        assert InboundWebhook.objects.count() == 0
        assert any("Refused" in record.getMessage() for record in caplog.records)

    def test_valid_signature_is_accepted_and_stored(self, message: Message) -> None:
        response = post(self.delivered_report(message))
        assert response.status_code == 200
        stored = InboundWebhook.objects.get()
        assert stored.provider == self.provider
        assert stored.processed_at is None

    def test_valid_report_is_recorded_as_delivered(self, message: Message) -> None:
        post(self.delivered_report(message))
        inbound_webhooks_process()
        message.refresh_from_db()
        assert message.status == MessageStatus.DELIVERED
        assert list(Event.objects.filter(message=message).values_list("type", flat=True)) == ["delivered"]
        assert InboundWebhook.objects.get().processed_at is not None

    def test_tampered_report_is_refused_with_403_logged_and_not_stored(self, message, caplog) -> None:
        self._assert_refused(self.tampered(self.delivered_report(message)), caplog)

    def test_report_without_signature_is_refused(self, message, caplog) -> None:
        self._assert_refused(self.unsigned(self.delivered_report(message)), caplog)

    def test_report_signed_with_another_secret_is_refused(self, message, caplog) -> None:
        self._assert_refused(self.wrong_secret(message), caplog)

    def test_same_report_delivered_twice_is_counted_once(self, message: Message) -> None:
        report = self.delivered_report(message)
        assert post(report).status_code == 200
        inbound_webhooks_process()
        assert post(report).status_code == 200
        inbound_webhooks_process()
        assert Event.objects.filter(message=message, type="delivered").count() == 1
        message.sending.refresh_from_db()
        assert message.sending.delivered == 1
        assert InboundWebhook.objects.filter(processed_at__isnull=False).count() == 2
