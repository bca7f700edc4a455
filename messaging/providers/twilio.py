"""SMS through Twilio's Messages REST API, and Twilio's status callbacks and inbound replies.

Settings (ProviderRoute.settings, each falling back to an environment variable so credentials
can stay out of the database): `account_sid` (TWILIO_ACCOUNT_SID), `auth_token`
(TWILIO_AUTH_TOKEN), optional `messaging_service_sid` (TWILIO_MESSAGING_SERVICE_SID), optional
`from` (TWILIO_FROM: a fixed sender that overrides the message's own), `api_base` (default
https://api.twilio.com; tests point it at tests/fakes/twilio.py), `timeout` (seconds, default 10).

Webhook signatures (X-Twilio-Signature) are computed by the `twilio` package's RequestValidator, for
the URL rebuilt from PUBLIC_URL and its default-port variants (`_url_variants`), compared in constant time.

Decisions where Twilio's contract leaves a choice:
- Errors: 429, 5xx, timeouts and connection errors are transient. Other 4xx answers are permanent
  (the message is rejected with Twilio's message and code), except 401/403: wrong credentials are
  the route's fault, not the message's, so they stay transient and the queue recovers once an
  operator fixes the route instead of a whole campaign being rejected.
- A failure to connect is transient (nothing was sent). A read timeout or a connection dropped
  after the request went out is ambiguous: `send` asks `lookup` once and, unless that finds the
  message, raises code `maybe_sent` so the dispatcher reconciles it later instead of resending.
- Status callbacks map MessageStatus through STATUS_EVENTS. `accepted`, `scheduled`, `queued`,
  `sending` and `sent` (handed to the carrier) are steps before the handset and produce no event:
  the dispatcher already records our `sent` when Twilio accepts the message, and a second one
  would be counted twice. `failed` means Twilio itself could not send it, hence `rejected`.
- An inbound message (the Messaging webhook: MessageSid, AccountSid, From, To, Body, NumMedia,
  MediaUrl<n>, …) becomes an `InboundMessage`, whatever its text: the replying number as `sender`
  (international digits, like Contact.phone), the number it wrote to as `recipient`, AccountSid as
  `provider_account`. Keywords (STOP, START, HELP in every language) are compliance.keywords' business,
  not the parser's. A `whatsapp:` address makes it a WhatsApp message.
"""

import hmac
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from django.conf import settings as django_settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from twilio.request_validator import RequestValidator

from messaging.providers.base import (
    DeliveryEvent,
    InboundMessage,
    OutboundMessage,
    Provider,
    ProviderError,
    WebhookItem,
    WebhookRejected,
)

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.twilio.com"
# The dispatcher's code for "the provider may have taken it": looked up, never resent blindly.
MAYBE_SENT = "maybe_sent"
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"

# Twilio MessageStatus -> our EventType (None: no event).
STATUS_EVENTS: dict[str, str | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": None,
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "rejected",
    "canceled": None,
    "read": None,
}

_ENV_FALLBACKS = {
    "account_sid": "TWILIO_ACCOUNT_SID",
    "auth_token": "TWILIO_AUTH_TOKEN",
    "messaging_service_sid": "TWILIO_MESSAGING_SERVICE_SID",
    "from": "TWILIO_FROM",
}

_sessions = threading.local()


def _session() -> requests.Session:
    """One keep-alive connection pool per thread, shared by every provider instance."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _sessions.session = session
    return session


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]] | dict[str, str]) -> str:
    """X-Twilio-Signature of a form POST to `url`, computed by the `twilio` package's RequestValidator
    (HMAC-SHA1 of the URL followed by each POST name and value, sorted; a repeated name signs each value)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    values: MultiValueDict = MultiValueDict()
    for key, value in pairs:
        values.appendlist(key, value)
    return RequestValidator(auth_token).compute_signature(url, values)


def _url_variants(url: str) -> list[str]:
    """Twilio signs the URL with or without the default port depending on how it was configured;
    its own validators accept both, so do we."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default_port}"))
    without_port = urlunsplit(parts._replace(netloc=host)) if parts.port in (None, default_port) else url
    return list(dict.fromkeys([url, with_port, without_port]))


def _form_params(request: HttpRequest) -> list[tuple[str, str]]:
    """The POST parameters as Twilio signed them, parsed once per request (a webhook is checked
    against every Twilio route until one matches). Cheaper than Django's QueryDict."""
    cached = getattr(request, "_twilio_params", None)
    if cached is None:
        if request.content_type == "application/x-www-form-urlencoded":
            cached = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        else:
            cached = []
        request._twilio_params = cached
    return cached


def _e164(number: str) -> str:
    number = number.strip()
    if number.startswith("+"):
        return number
    return "+" + number if number.isdigit() else number


def _digits(number: str) -> str:
    return number[1:] if number.startswith("+") else number


class TwilioProvider(Provider):
    name: ClassVar[str] = "twilio"
    # Landing SMS are SMS carrying a personal link: the same API, numbers and callbacks.
    channels: ClassVar[frozenset[str]] = frozenset({"sms", "landing"})

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self.account_sid = self._setting("account_sid")
        self.auth_token = self._setting("auth_token")
        self.messaging_service_sid = self._setting("messaging_service_sid")
        self.fixed_sender = self._setting("from")
        self.api_base = (self.settings.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        self.timeout = float(self.settings.get("timeout") or 10)

    def _setting(self, key: str) -> str:
        return str(self.settings.get(key) or os.environ.get(_ENV_FALLBACKS[key], "") or "")

    def __repr__(self) -> str:
        # Never the token: provider objects end up in logs and tracebacks.
        return f"TwilioProvider(account_sid={self.account_sid!r})"

    @property
    def _messages_url(self) -> str:
        return f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def _status_callback(self) -> str:
        return self.settings.get("status_callback") or django_settings.PUBLIC_URL + STATUS_CALLBACK_PATH

    # Sending -------------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> str:
        if not self.account_sid or not self.auth_token:
            raise ProviderError("Twilio credentials are not configured", permanent=False, code="config")
        form = {"To": _e164(message.recipient), "Body": message.body, "StatusCallback": self._status_callback()}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = _e164(self.fixed_sender or message.sender)
        try:
            response = _session().post(
                self._messages_url, data=form, auth=(self.account_sid, self.auth_token), timeout=self.timeout
            )
        except (requests.ConnectTimeout, requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise ProviderError(
                f"Twilio unreachable: {type(exc).__name__}", permanent=False, code="connection"
            ) from exc
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                raise ProviderError(
                    f"Twilio unreachable: {type(exc).__name__}", permanent=False, code="connection"
                ) from exc
            return self._maybe_sent(message, exc)
        except requests.RequestException as exc:  # read timeout and the like: the request went out
            return self._maybe_sent(message, exc)
        if response.status_code in (200, 201):
            return str(response.json()["sid"])
        raise _error_from(response)

    def lookup(self, message: OutboundMessage) -> str | None:
        """Find the message Twilio took for this one: same To, From (unless a Messaging Service
        picks the number), body, sent since yesterday (a reconciliation runs minutes after a
        crash; yesterday covers midnight)."""
        since = (timezone.now() - timedelta(days=1)).date().isoformat()
        params: dict[str, str] = {"To": _e164(message.recipient), "DateSent>": since, "PageSize": "100"}
        if not self.messaging_service_sid:
            params["From"] = _e164(self.fixed_sender or message.sender)
        url: str | None = self._messages_url
        for _page in range(20):
            try:
                response = _session().get(
                    url, params=params, auth=(self.account_sid, self.auth_token), timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise ProviderError(f"Twilio unreachable: {type(exc).__name__}", permanent=False) from exc
            if response.status_code != 200:
                raise _error_from(response)
            page = response.json()
            for item in page.get("messages", []):
                if item.get("body") == message.body and item.get("direction", "outbound-api").startswith("outbound"):
                    return str(item["sid"])
            next_uri = page.get("next_page_uri")
            if not next_uri:
                return None
            url, params = self.api_base + next_uri, {}
        return None

    def _maybe_sent(self, message: OutboundMessage, exc: Exception) -> str:
        """The request went out but no answer came: Twilio may have the message. Ask once; if it
        cannot be confirmed now, say "maybe sent" so the dispatcher reconciles instead of resending."""
        try:
            found = self.lookup(message)
        except ProviderError:
            found = None
        if found:
            return found
        raise ProviderError(
            f"No answer from Twilio ({type(exc).__name__}); the message may have been taken",
            permanent=False,
            code=MAYBE_SENT,
        ) from exc

    # Webhooks ------------------------------------------------------------------------------

    def verify_webhook(self, request: HttpRequest) -> None:
        if not self.auth_token:
            raise WebhookRejected("no Twilio auth token configured")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            raise WebhookRejected("missing X-Twilio-Signature")
        params = _form_params(request)
        if self.account_sid and dict(params).get("AccountSid") != self.account_sid:
            raise WebhookRejected("AccountSid of another Twilio account")
        # Rebuilt from PUBLIC_URL: behind a proxy the request's own host and scheme are not what
        # Twilio called.
        url = django_settings.PUBLIC_URL + request.get_full_path()
        for candidate in _url_variants(url):
            if hmac.compare_digest(twilio_signature(self.auth_token, candidate, params), signature):
                return
        raise WebhookRejected("X-Twilio-Signature does not match")

    def parse_webhook(self, content_type: str, body: bytes) -> list[WebhookItem]:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        sid = fields.get("MessageSid") or fields.get("SmsSid") or ""
        if not sid:
            raise ValueError("Twilio webhook without MessageSid")
        status = (fields.get("MessageStatus") or "").lower()
        if status:
            return self._status_event(sid, status, fields)
        if "Body" in fields:
            return [self._inbound(sid, fields)]
        raise ValueError("Twilio webhook is neither a status callback nor an inbound message")

    def _status_event(self, sid: str, status: str, fields: dict[str, str]) -> list[DeliveryEvent]:
        if status not in STATUS_EVENTS:
            raise ValueError(f"unknown Twilio MessageStatus {status!r}")
        event_type = STATUS_EVENTS[status]
        if event_type is None:
            return []
        extra: dict[str, Any] = {"status": status}
        error_code = fields.get("ErrorCode", "")
        if error_code:
            extra["error_code"] = error_code
        return [
            DeliveryEvent(
                type=event_type,
                occurred_at=_dlr_time(fields.get("RawDlrDoneDate", "")) or _received_at(),
                provider=self.name,
                provider_event_id=f"{sid}:{status}",
                provider_message_id=sid,
                reason=f"Twilio error {error_code}" if error_code else "",
                extra=extra,
            )
        ]

    def _inbound(self, sid: str, fields: dict[str, str]) -> InboundMessage:
        sender, recipient = fields.get("From", ""), fields.get("To", "")
        channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
        media_count = int(fields.get("NumMedia") or 0) if (fields.get("NumMedia") or "0").isdigit() else 0
        kept = ("MessagingServiceSid", "NumMedia", "NumSegments", "OptOutType", "FromCountry", "ToCountry")
        return InboundMessage(
            channel=channel,
            sender=_digits(sender.removeprefix("whatsapp:")),
            recipient=_digits(recipient.removeprefix("whatsapp:")),
            text=fields["Body"],
            provider_message_id=sid,
            received_at=_received_at(),
            provider=self.name,
            provider_account=fields.get("AccountSid", ""),
            media=tuple(fields[f"MediaUrl{n}"] for n in range(media_count) if fields.get(f"MediaUrl{n}")),
            extra={key: fields[key] for key in kept if fields.get(key)},
        )


def _error_from(response: requests.Response) -> ProviderError:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    code = str(payload.get("code") or response.status_code)
    message = payload.get("message") or response.reason or "Twilio error"
    reason = f"{message} (Twilio error {code})"
    status = response.status_code
    permanent = 400 <= status < 500 and status not in (401, 403, 408, 429)
    return ProviderError(reason, permanent=permanent, code=code)


def _never_connected(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "NameResolutionError" in text or "Connection refused" in text


def _dlr_time(raw: str) -> datetime | None:
    """RawDlrDoneDate is the carrier's YYMMDDhhmm (UTC)."""
    if len(raw) != 10 or not raw.isdigit():
        return None
    try:
        return datetime.strptime(raw, "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def _received_at() -> datetime:
    """Twilio callbacks carry no timestamp: the time we received them is the best we have."""
    from messaging.webhooks import webhook_received_at

    return webhook_received_at.get() or timezone.now()
