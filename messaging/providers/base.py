"""The provider interface: every provider module (simulator, twilio, smtp, ...) holds one class
with both its sending and its webhook parsing.

The order of steps is fixed here, not in each provider: the dispatcher builds `OutboundMessage`s
from claimed Message rows (committed as IN_FLIGHT), calls `send_batch`, and writes each
`SendResult` back. Webhooks go `verify` -> `parse` -> one list of normalised `DeliveryEvent`s,
recorded by the single event-recording service whatever the source.

Tracking and inbound are two streams: `parse_webhook` may also return `InboundMessage`s (a reply an
SMS or WhatsApp user wrote to one of our numbers) beside the delivery events. The webhook task records
the events and hands the inbound messages to the inbound handlers (messaging.webhooks.INBOUND_HANDLERS:
opt-out keywords today, conversations later); they are never squeezed into a delivery event.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.http import HttpRequest


class ProviderError(Exception):
    """A send that failed. `permanent` errors reject the message with `reason`; transient ones
    (timeouts, 5xx, 429) are retried with backoff."""

    def __init__(self, reason: str, *, permanent: bool, code: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code


class WebhookRejected(Exception):
    """The webhook failed authentication (bad signature, wrong token): answered 403 and logged."""


@dataclass(frozen=True)
class OutboundMessage:
    """What a provider needs to send one message; built from a claimed Message row."""

    message_id: int
    public_id: str
    channel: str
    sender: str
    recipient: str
    body: str
    subject: str = ""
    encoding: str = ""
    parts: int = 1
    # Channel extras: sms {"flash", "split_parts"}; email {"from_name", "reply_to", "cc", "bcc",
    # "headers", "text_body", "attachments": [{"name", "content" (base64), "content_type"}]}.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    message_id: int
    provider_message_id: str = ""
    error: ProviderError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class DeliveryEvent:
    """One normalised event, whatever its source (provider webhook, simulator, tracking page).

    A message is found by `message_public_id` when the source knows it, else by
    (`provider`, `provider_message_id`). `provider_event_id` makes a report that arrives twice
    count once; sources without their own ids derive a stable one from the payload.
    """

    type: str  # a messaging.models.EventType value
    occurred_at: datetime
    provider: str = ""
    provider_event_id: str | None = None
    provider_message_id: str = ""
    message_public_id: str = ""
    reason: str = ""
    url: str = ""
    user_agent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundMessage:
    """A message a person sent to one of our numbers (an SMS reply, a WhatsApp message).

    `sender` is the person (international digits, like Contact.phone), `recipient` our number or
    sender id as the provider names it (digits for numbers). `provider_account` is the provider-side
    account it arrived on (Twilio's AccountSid), so the handlers can tell which of our routes (and so
    which of our accounts) it belongs to; `extra` keeps the provider's own fields worth keeping.
    """

    channel: str  # a campaigns.models.Channel value: "sms", "whatsapp"
    sender: str
    recipient: str
    text: str
    provider_message_id: str
    received_at: datetime
    provider: str = ""
    provider_account: str = ""
    media: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


WebhookItem = DeliveryEvent | InboundMessage


class Provider:
    """Base class. Subclasses set `name` and `channels` and implement `send`; providers whose API
    takes many messages per request override `send_batch`."""

    name: ClassVar[str] = ""
    channels: ClassVar[frozenset[str]] = frozenset()
    takes_batches: ClassVar[bool] = False

    def __init__(self, settings: dict[str, Any] | None = None):
        self.settings = settings or {}

    def send(self, message: OutboundMessage) -> str:
        """Hand one message over; return the provider's id for it or raise ProviderError."""
        raise NotImplementedError

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            try:
                results.append(SendResult(message.message_id, provider_message_id=self.send(message)))
            except ProviderError as exc:
                results.append(SendResult(message.message_id, error=exc))
        return results

    def lookup(self, message: OutboundMessage) -> str | None:
        """For reconciliation of a message left IN_FLIGHT: the provider's id if the provider did
        take it, None if it certainly did not. Raise NotImplementedError when the provider cannot
        tell; such messages end UNKNOWN rather than being sent twice."""
        raise NotImplementedError

    def verify_webhook(self, request: HttpRequest) -> None:
        """Raise WebhookRejected unless the request really comes from the provider."""
        raise WebhookRejected(f"{self.name} does not accept webhooks")

    def parse_webhook(self, content_type: str, body: bytes) -> list[WebhookItem]:
        """Turn a verified webhook body (as stored) into normalised events (and inbound messages, for
        providers that receive them)."""
        raise NotImplementedError
