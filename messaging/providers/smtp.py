"""Email through Django's email framework, so plain SMTP and every django-anymail ESP backend
(SendGrid, Mailgun, SES, Postmark, Brevo...) work by choosing the backend; and the parsing of
anymail's normalised tracking events.

Settings (ProviderRoute.settings): `backend` (dotted path; default settings.EMAIL_BACKEND), the
backend's keyword arguments under `connection` (e.g. {"host", "port", "username", "password",
"use_tls", "timeout"} for Django's SMTP backend; never logged), optional `message_id_domain`,
`connections` (parallel connections per batch, default 4).

Decisions:
- Plain SMTP (Django's own SMTP EmailBackend, the default) opens its connections through that
  backend (host, port, TLS/SSL, login, timeout) but writes the MIME itself and pipelines the SMTP
  transaction (messaging.providers.smtp_wire): about 6x the framework's rate on the same server.
  Every other backend (anymail ESPs, locmem, console...) gets Django's EmailMultiAlternatives.
  Both build the same email: multipart/alternative text + html (the text is
  `options["text_body"]` when given, else derived from the html), attachments around it in a
  multipart/mixed, the route's headers (List-Unsubscribe...), Bcc only in the envelope; a header
  value with a line break is refused (permanent, code `bad_header`).
- Message-ID is `<public_id@domain>` (domain: `message_id_domain`, else the sender's domain), so
  our id is known before the SMTP server answers. With an anymail backend the ESP's own id
  (anymail_status.message_id) is stored instead, since that is what its webhooks report; angle
  brackets are stripped on both sides so the two always compare equal. Every message also carries
  anymail metadata {"public_id": ...}, which ESPs echo in their webhooks.
- Errors: refused recipients and SMTP 5xx are permanent; 4xx (greylisting, mailbox busy) and a
  failure to connect are transient. A disconnect or timeout in the middle of a message is
  "maybe sent" (code `maybe_sent`): the server may have queued it, and SMTP offers no lookup, so the
  dispatcher's reconciler settles it as `unknown` rather than sending it twice; the connection is
  reopened for the rest of the batch. Anymail errors follow the ESP's HTTP status (429 and 5xx
  transient, other 4xx permanent; no status at all, a network failure, is "maybe sent").
- Anymail tracking events are stored by the webhook views as a JSON list of `anymail_event_to_json`
  dicts under provider "anymail" and turned into events here through ANYMAIL_EVENTS: `queued` and
  `sent` are no event (the dispatcher records our `sent` when the backend accepts the message; a
  second one would be counted twice), `deferred` is a
  `soft_bounced`, `bounced` a `hard_bounced`, `rejected` and `failed` are `rejected`, `complained`
  is a `complaint`; `autoresponded`, `subscribed`, `unknown` and inbound types are ignored.
"""

import base64
import hashlib
import json
import re
import smtplib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.utils import formataddr
from html import unescape
from typing import Any, ClassVar

from django.conf import settings as django_settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from messaging.providers.base import DeliveryEvent, OutboundMessage, Provider, ProviderError, SendResult
from messaging.providers.smtp_wire import BadHeader, UnsupportedEmail, build_mime, envelope_address, smtp_send

DEFAULT_CONNECTIONS = 4
# The dispatcher's code for "the provider may have taken it": looked up, never resent blindly.
MAYBE_SENT = "maybe_sent"

# anymail's normalised EventType -> our EventType (None: no event).
ANYMAIL_EVENTS: dict[str, str | None] = {
    "queued": None,
    "sent": None,
    "delivered": "delivered",
    "deferred": "soft_bounced",
    "bounced": "hard_bounced",
    "rejected": "rejected",
    "failed": "rejected",
    "opened": "opened",
    "clicked": "clicked",
    "complained": "complaint",
    "unsubscribed": "unsubscribed",
    "autoresponded": None,
    "subscribed": None,
    "unknown": None,
    "inbound": None,
    "inbound_failed": None,
}

# The fields of an AnymailTrackingEvent kept in the stored JSON (its raw `esp_event` is not).
_ANYMAIL_FIELDS = (
    "event_type",
    "event_id",
    "message_id",
    "recipient",
    "metadata",
    "tags",
    "reject_reason",
    "description",
    "mta_response",
    "click_url",
    "user_agent",
)


def strip_brackets(message_id: str) -> str:
    return message_id.strip().removeprefix("<").removesuffix(">")


def message_id_header(public_id: str, domain: str) -> str:
    return f"<{public_id}@{domain}>"


class SmtpProvider(Provider):
    name: ClassVar[str] = "smtp"
    channels: ClassVar[frozenset[str]] = frozenset({"mailing"})
    takes_batches: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"SmtpProvider(backend={self._backend()!r})"

    def _backend(self) -> str:
        return self.settings.get("backend") or django_settings.EMAIL_BACKEND

    def _connection(self):
        return get_connection(backend=self._backend(), fail_silently=False, **self.settings.get("connection", {}))

    # Sending -------------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> str:
        result = self.send_batch([message])[0]
        if result.error:
            raise result.error
        return result.provider_message_id

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        """Spread the batch over `connections` SMTP connections (default 4) sending in parallel,
        each reused for all its messages: an SMTP server answers each command in turn, so one
        connection spends most of its time waiting."""
        workers = max(1, min(int(self.settings.get("connections", DEFAULT_CONNECTIONS)), len(messages)))
        if workers == 1:
            return self._send_sequence(messages)
        shares = [messages[index::workers] for index in range(workers)]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp") as pool:
            done = {result.message_id: result for share in pool.map(self._send_sequence, shares) for result in share}
        return [done[message.message_id] for message in messages]

    def _send_sequence(self, messages: list[OutboundMessage]) -> list[SendResult]:
        """Send one after another over one connection; each message on its own, so one refusal
        does not fail the others."""
        results: list[SendResult] = []
        connection = None
        try:
            for message in messages:
                if connection is None:
                    try:
                        connection = self._open()
                    except ProviderError as exc:
                        results.append(SendResult(message.message_id, error=exc))
                        continue
                try:
                    provider_message_id = self._send_one(connection, message)
                    results.append(SendResult(message.message_id, provider_message_id=provider_message_id))
                except ProviderError as exc:
                    results.append(SendResult(message.message_id, error=exc))
                    if exc.code == MAYBE_SENT:
                        _close_quietly(connection)
                        connection = None
        finally:
            if connection is not None:
                _close_quietly(connection)
        return results

    def _open(self):
        """Connect before sending anything, so a connection failure is known to have sent nothing."""
        connection = self._connection()
        try:
            connection.open()
        except Exception as exc:
            if not isinstance(exc, OSError) and _anymail_error(exc) is None:
                raise
            raise ProviderError(
                f"Email backend unreachable: {type(exc).__name__}", permanent=False, code="connection"
            ) from exc
        return connection

    def _send_one(self, connection, message: OutboundMessage) -> str:
        try:
            lean = self._lean_email(connection, message)
            if lean is not None:
                envelope_from, recipients, data, message_id = lean
                smtp_send(connection.connection, envelope_from, recipients, data)
                return message_id
            email, message_id = self.build_email(message, connection=connection)
            sent = connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _reply in exc.recipients.values()]
            detail = "; ".join(f"{addr}: {code} {_text(reply)}" for addr, (code, reply) in exc.recipients.items())
            permanent = any(code >= 500 for code in codes) or not codes
            raise ProviderError(
                f"Recipient refused: {detail}", permanent=permanent, code=str(codes[0] if codes else "")
            ) from exc
        except smtplib.SMTPResponseException as exc:
            permanent = exc.smtp_code >= 500
            raise ProviderError(
                f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}", permanent=permanent, code=str(exc.smtp_code)
            ) from exc
        except OSError as exc:
            # A disconnect or timeout mid-conversation (smtplib.SMTPException is an OSError too):
            # the server may have taken the message, so the dispatcher must not resend blindly.
            raise ProviderError(
                f"SMTP connection lost while sending: {type(exc).__name__}", permanent=False, code=MAYBE_SENT
            ) from exc
        except (BadHeader, BadHeaderError) as exc:
            # Nothing was sent: a line break in a header would let a value inject headers.
            raise ProviderError(f"Invalid email header: {exc}", permanent=True, code="bad_header") from exc
        except Exception as exc:
            error = _anymail_error(exc)
            if error is None:
                raise
            raise error from exc
        if not sent:
            raise ProviderError("The email backend did not send the message", permanent=False, code=MAYBE_SENT)
        return _esp_message_id(email, message.recipient) or message_id

    def _lean_email(self, connection, message: OutboundMessage) -> tuple[str, list[str], bytes, str] | None:
        """(envelope sender, envelope recipients, MIME bytes, Message-ID) for the lean path
        (messaging.providers.smtp_wire), or None when the email goes through Django's framework:
        a backend other than Django's own SMTP one (anymail ESPs, tests' backends), or an email
        the lean writer does not cover. BadHeader propagates: the email is refused either way."""
        if type(connection) is not SmtpEmailBackend or connection.connection is None:
            return None
        options = message.options
        domain = self._message_id_domain(message)
        html = message.body
        text = options.get("text_body") or _text_from_html(html)
        cc, bcc = _address_list(options.get("cc")), _address_list(options.get("bcc"))
        try:
            sender = envelope_address(message.sender)
            recipients = [envelope_address(address) for address in (message.recipient, *cc, *bcc)]
            data = build_mime(
                sender=sender,
                from_name=options.get("from_name") or "",
                recipient=message.recipient,
                cc=cc,
                reply_to=_address_list(options.get("reply_to")),
                subject=message.subject,
                text=text,
                html=html,
                headers={str(key): str(value) for key, value in (options.get("headers") or {}).items()},
                message_id=message_id_header(message.public_id, domain),
                attachments=list(options.get("attachments") or []),
            )
        except UnsupportedEmail:
            return None
        return sender, recipients, data, f"{message.public_id}@{domain}"

    def _message_id_domain(self, message: OutboundMessage) -> str:
        return self.settings.get("message_id_domain") or message.sender.rpartition("@")[2] or "localhost"

    def build_email(self, message: OutboundMessage, *, connection=None) -> tuple[EmailMultiAlternatives, str]:
        """The EmailMultiAlternatives for one message and its Message-ID (without brackets)."""
        options = message.options
        domain = self._message_id_domain(message)
        message_id = f"{message.public_id}@{domain}"
        headers = {str(key): str(value) for key, value in (options.get("headers") or {}).items()}
        headers["Message-ID"] = message_id_header(message.public_id, domain)
        from_name = options.get("from_name") or ""
        html = message.body
        text = options.get("text_body") or _text_from_html(html)
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=text,
            from_email=formataddr((from_name, message.sender)) if from_name else message.sender,
            to=[message.recipient],
            cc=_address_list(options.get("cc")),
            bcc=_address_list(options.get("bcc")),
            reply_to=_address_list(options.get("reply_to")),
            headers=headers,
            connection=connection,
        )
        if html and html != text:
            email.attach_alternative(html, "text/html")
        for attachment in options.get("attachments") or []:
            email.attach(
                attachment["name"],
                base64.b64decode(attachment["content"]),
                attachment.get("content_type") or None,
            )
        # Read by anymail backends only; plain SMTP ignores these attributes.
        email.metadata = {"public_id": message.public_id}
        if "track_opens" in options:
            email.track_opens = bool(options["track_opens"])
        if "track_clicks" in options:
            email.track_clicks = bool(options["track_clicks"])
        return email, message_id

    # Webhooks (anymail tracking, stored as JSON by messaging.webhooks) -------------------------

    def parse_webhook(self, content_type: str, body: bytes) -> list[DeliveryEvent]:
        payload = json.loads(body)
        if isinstance(payload, dict):
            payload = [payload]
        events = []
        for item in payload:
            event = _delivery_event(item)
            if event is not None:
                events.append(event)
        return events


def anymail_event_to_json(event: Any, esp_name: str) -> dict[str, Any]:
    """The normalised part of an anymail AnymailTrackingEvent, as JSON-safe values."""
    data: dict[str, Any] = {"esp": esp_name}
    for field in _ANYMAIL_FIELDS:
        value = getattr(event, field, None)
        if isinstance(value, set):
            value = sorted(value)
        data[field] = value
    timestamp = getattr(event, "timestamp", None)
    data["timestamp"] = timestamp.isoformat() if isinstance(timestamp, datetime) else None
    return data


def _delivery_event(item: dict[str, Any]) -> DeliveryEvent | None:
    event_type = ANYMAIL_EVENTS.get(item.get("event_type") or "unknown")
    if event_type is None:
        return None
    esp = item.get("esp") or "anymail"
    if item.get("event_id"):
        event_id = f"{esp}:{item['event_id']}"
    else:
        # Some ESPs give no event id; the normalised payload itself is stable across redeliveries.
        canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
        event_id = f"{esp}:sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"
    metadata = item.get("metadata") or {}
    message_id = item.get("message_id") or ""
    if isinstance(message_id, list):
        message_id = message_id[0] if message_id else ""
    extra: dict[str, Any] = {"esp": esp}
    if item.get("mta_response"):
        extra["smtp_response"] = item["mta_response"]
    if item.get("reject_reason"):
        extra["reject_reason"] = item["reject_reason"]
    occurred_at = parse_datetime(item["timestamp"]) if item.get("timestamp") else None
    return DeliveryEvent(
        type=event_type,
        occurred_at=occurred_at or timezone.now(),
        provider=SmtpProvider.name,
        provider_event_id=event_id[:255],
        provider_message_id=strip_brackets(str(message_id)),
        message_public_id=str(metadata.get("public_id") or ""),
        reason=str(item.get("description") or item.get("reject_reason") or ""),
        url=str(item.get("click_url") or ""),
        user_agent=str(item.get("user_agent") or ""),
        extra=extra,
    )


def _address_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


_INVISIBLE = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_LINE_BREAKS = re.compile(r"<(?:br|/p|/div|/h[1-6]|/li|/tr|/table)\b[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n{3,}")


def _text_from_html(html: str) -> str:
    """The plain-text alternative: tags dropped, block ends as line breaks, entities decoded.
    Regular expressions rather than an HTML parser: this runs for every email sent."""
    text = _LINE_BREAKS.sub("\n", _INVISIBLE.sub("", html))
    text = unescape(_TAGS.sub("", text))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _close_quietly(connection) -> None:
    try:
        connection.close()
    except Exception:  # noqa: S110  (a broken connection is being discarded anyway)
        pass


def _esp_message_id(email: EmailMultiAlternatives, recipient: str) -> str:
    status = getattr(email, "anymail_status", None)
    if status is None:
        return ""
    recipient_status = status.recipients.get(recipient.lower()) or status.recipients.get(recipient)
    if recipient_status is not None and recipient_status.message_id not in (None, ""):
        return strip_brackets(str(recipient_status.message_id))
    if isinstance(status.message_id, str):
        return strip_brackets(status.message_id)
    return ""


def _describe(exc: Exception) -> str:
    try:
        return str(exc)[:500]
    except Exception:  # anymail's __str__ can itself fail on a partial error object
        return type(exc).__name__


def _anymail_error(exc: Exception) -> ProviderError | None:
    try:
        from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
    except ImportError:
        return None
    if isinstance(exc, AnymailRecipientsRefused):
        return ProviderError(f"Recipient refused by the ESP: {_describe(exc)}", permanent=True, code="refused")
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        if status is None:
            # No HTTP answer: only a failed connect is known to have sent nothing.
            cause = repr(exc.__cause__ or exc.__context__ or "")
            never_connected = "NewConnectionError" in cause or "ConnectTimeout" in cause
            code = "connection" if never_connected else MAYBE_SENT
            return ProviderError(f"ESP unreachable: {type(exc).__name__}", permanent=False, code=code)
        permanent = 400 <= status < 500 and status not in (401, 403, 408, 429)
        return ProviderError(f"ESP error: {_describe(exc)}", permanent=permanent, code=str(status))
    if isinstance(exc, AnymailError):
        return ProviderError(f"ESP error: {_describe(exc)}", permanent=True, code="esp")
    return None
