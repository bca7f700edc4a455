"""Voice calls through Twilio's Calls API, and Twilio's call status callbacks.

Settings (ProviderRoute.settings, each falling back to an environment variable): `account_sid`
(TWILIO_ACCOUNT_SID), `auth_token` (TWILIO_AUTH_TOKEN), `from` (TWILIO_VOICE_FROM: the caller id
used when the message names none), `api_base` (default https://api.twilio.com; TWILIO_API_BASE_URL;
tests point it at tests/fakes/twilio_voice.py), `timeout` (read, seconds, default 10),
`connect_timeout` (default 3.05), `in_flight` (requests at once per batch, default 4),
`ring_timeout` (seconds Twilio lets it ring, default Twilio's 60), `lookup_window_seconds`
(default 6 hours).

A call is `POST /2010-04-01/Accounts/{sid}/Calls.json` with `Url` (the signed, expiring TwiML URL of
the message, voice.signing), `StatusCallback` (/webhooks/twilio_voice/) for the events initiated,
ringing, answered and completed, and `MachineDetection=Enable` when the message asked for AMD. HTTP
errors are classified by messaging.providers.http (401/403 route fault, 429/5xx transient, other
4xx permanent with Twilio's code and message; "maybe sent" after the request was written).

Decisions where Twilio's contract leaves a choice:
- Status callbacks map CallStatus through CALL_STATUS_EVENTS. The steps before the end (queued,
  initiated, ringing, in-progress) produce no event: the dispatcher records `sent` when Twilio takes
  the call, and a call's outcome is known when it ends. `completed` is `delivered` (a person
  answered) with the call's duration in `extra["duration_seconds"]`, the amount that is charged,
  unless `AnsweredBy` says a machine or a fax answered: then `undelivered` (with AMD the call was
  hung up at once; it may be retried). busy, no-answer, failed and canceled are `undelivered`;
  failed with one of REFUSED_ERROR_CODES (Twilio refused to dial the number) is `rejected`.
- A CallStatus outside EVENT_TYPES raises UnsupportedWebhookEvent (a ValueError: the stored row
  keeps the error, visible and retryable in the admin). A callback carrying `Digits` is a Gather
  answer; those are answered and recorded synchronously by voice.views, so here it yields nothing.
- lookup(): Twilio keeps no reference of ours on a call, so it lists the calls To the recipient
  From the caller that started since yesterday, keeps those created in the last
  `lookup_window_seconds` and newer than the previous attempt's call (VoiceOptions.previous_call_sid),
  and answers the one it finds. Several candidates cannot be told apart: NotImplementedError, so the
  message ends `unknown` rather than a second call being made.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl

import requests
from django.conf import settings as django_settings
from django.http import HttpRequest
from django.utils import timezone

from messaging.providers.base import (
    DeliveryEvent,
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
    WebhookRejected,
)
from messaging.providers.http import HttpRoute, MaybeSent, error_from

NAME: Final = "twilio_voice"
DEFAULT_API_BASE: Final = "https://api.twilio.com"
STATUS_CALLBACK_PATH: Final = "/webhooks/twilio_voice/"
STATUS_CALLBACK_EVENTS: Final = ("initiated", "ringing", "answered", "completed")
MACHINE_ANSWERS: Final = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)
ANSWERED_BY: Final = frozenset({"human", "unknown", *MACHINE_ANSWERS})
# Twilio's codes for "we will not dial that number" (invalid, forbidden, no permission).
REFUSED_ERROR_CODES: Final = frozenset({"13223", "13224", "13225", "13226", "13227", "21215", "21216", "21217"})

# Twilio CallStatus -> our EventType (None: a step, no event). `completed` depends on AnsweredBy.
CALL_STATUS_EVENTS: Final[dict[str, str | None]] = {
    "queued": None,
    "initiated": None,
    "ringing": None,
    "in-progress": None,
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
    "failed": "undelivered",
    "canceled": "undelivered",
}
EVENT_TYPES: Final = frozenset(CALL_STATUS_EVENTS)

_ENV_FALLBACKS: Final = {
    "account_sid": "TWILIO_ACCOUNT_SID",
    "auth_token": "TWILIO_AUTH_TOKEN",
    "from": "TWILIO_VOICE_FROM",
    "api_base": "TWILIO_API_BASE_URL",
}


class UnsupportedWebhookEvent(ValueError):
    """A callback whose type the parser does not declare in EVENT_TYPES."""


def _e164(number: str) -> str:
    number = number.strip()
    return number if number.startswith("+") else "+" + number


class TwilioVoiceProvider(Provider):
    name: ClassVar[str] = NAME
    channels: ClassVar[frozenset[str]] = frozenset({"text2speech", "voice-interactive"})
    takes_batches: ClassVar[bool] = True

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self.account_sid = self._setting("account_sid")
        self.auth_token = self._setting("auth_token")
        self.default_caller = self._setting("from")
        self.api_base = (self._setting("api_base") or DEFAULT_API_BASE).rstrip("/")
        self.in_flight = max(1, int(self.settings.get("in_flight") or 4))
        self.ring_timeout = int(self.settings.get("ring_timeout") or 0)
        self.lookup_window = timedelta(seconds=float(self.settings.get("lookup_window_seconds") or 6 * 3600))
        self.route = HttpRoute(
            key=f"{NAME}:{self.api_base}:{self.account_sid}",
            base_url=self.api_base,
            auth=(self.account_sid, self.auth_token),
            connect_timeout=float(self.settings.get("connect_timeout") or 3.05),
            read_timeout=float(self.settings.get("timeout") or 10),
            pool_size=self.in_flight,
            name="Twilio",
        )

    def _setting(self, key: str) -> str:
        value = self.settings.get(key) or os.environ.get(_ENV_FALLBACKS[key], "")
        if not value and key == "api_base":
            value = getattr(django_settings, "TWILIO_API_BASE_URL", "")
        return str(value or "")

    def __repr__(self) -> str:
        # Never the token: provider objects end up in logs and tracebacks.
        return f"TwilioVoiceProvider(account_sid={self.account_sid!r}, api_base={self.api_base!r})"

    @property
    def _calls_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Calls.json"

    def _status_callback(self) -> str:
        return self.settings.get("status_callback") or django_settings.PUBLIC_URL + STATUS_CALLBACK_PATH

    def _caller(self, message: OutboundMessage) -> str:
        sender = message.sender.strip().removeprefix("+")
        return _e164(sender if sender.isdigit() else self.default_caller)

    # Sending -------------------------------------------------------------------------------

    def call_form(self, message: OutboundMessage) -> list[tuple[str, str]]:
        """The Calls API form for one message (repeated StatusCallbackEvent fields)."""
        from voice.options import VoiceOptions
        from voice.signing import VoiceToken, twiml_url

        options = VoiceOptions.from_json(message.options)
        form = [
            ("To", _e164(message.recipient)),
            ("From", self._caller(message)),
            ("Url", twiml_url(VoiceToken(public_id=message.public_id))),
            ("Method", "POST"),
            ("StatusCallback", self._status_callback()),
            ("StatusCallbackMethod", "POST"),
            *[("StatusCallbackEvent", event) for event in STATUS_CALLBACK_EVENTS],
        ]
        if options.amd:
            form.append(("MachineDetection", "Enable"))
        if self.ring_timeout:
            form.append(("Timeout", str(self.ring_timeout)))
        return form

    def send(self, message: OutboundMessage) -> str:
        if not self.account_sid or not self.auth_token:
            raise ProviderError("Twilio credentials are not configured", permanent=False, code="config")
        try:
            response = self.route.request("POST", self._calls_path, data=self.call_form(message))
        except MaybeSent as exc:
            return self._maybe_sent(message, exc)
        if response.status_code in (200, 201):
            return str(response.json()["sid"])
        raise error_from(response, describe=_twilio_error)

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        """Up to `in_flight` calls created at once over the route's keep-alive pool."""
        if len(messages) <= 1 or self.in_flight == 1:
            return super().send_batch(messages)
        with ThreadPoolExecutor(max_workers=min(self.in_flight, len(messages))) as pool:
            return list(pool.map(self._send_one, messages))

    def _send_one(self, message: OutboundMessage) -> SendResult:
        try:
            return SendResult(message.message_id, provider_message_id=self.send(message))
        except ProviderError as exc:
            return SendResult(message.message_id, error=exc)

    def _maybe_sent(self, message: OutboundMessage, exc: MaybeSent) -> str:
        try:
            found = self.lookup(message)
        except (ProviderError, NotImplementedError):
            found = None
        if found:
            return found
        raise exc

    def lookup(self, message: OutboundMessage) -> str | None:
        from voice.options import VoiceOptions

        previous = VoiceOptions.from_json(message.options).previous_call_sid
        now = timezone.now()
        params: dict[str, str] | None = {
            "To": _e164(message.recipient),
            "From": self._caller(message),
            "StartTime>": (now - timedelta(days=1)).date().isoformat(),
            "PageSize": "100",
        }
        path: str | None = self._calls_path
        candidates: list[str] = []
        for _page in range(20):
            assert path is not None
            try:
                response = self.route.request("GET", path, params=params)
            except ProviderError as exc:
                raise ProviderError(f"Twilio lookup failed: {exc.reason}", permanent=False, code="lookup") from exc
            if response.status_code != 200:
                raise error_from(response, describe=_twilio_error)
            page = response.json()
            for call in page.get("calls", []):
                if previous and call.get("sid") == previous:
                    path = None  # newest first: everything after is the earlier attempts
                    break
                created = _rfc2822(call.get("date_created") or "")
                if created is not None and now - created > self.lookup_window:
                    path = None
                    break
                if str(call.get("direction", "outbound-api")).startswith("outbound"):
                    candidates.append(str(call["sid"]))
            else:
                next_uri = page.get("next_page_uri")
                path, params = (self.api_base + next_uri, None) if next_uri else (None, None)
            if path is None:
                break
        if len(candidates) > 1:
            raise NotImplementedError(f"{len(candidates)} Twilio calls match; cannot tell which is this message's")
        return candidates[0] if candidates else None

    # Webhooks ------------------------------------------------------------------------------

    def verify_webhook(self, request: HttpRequest) -> None:
        if not self.auth_token:
            raise WebhookRejected("no Twilio auth token configured")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            raise WebhookRejected("missing X-Twilio-Signature")
        params = _form_params(request)
        if self.account_sid and params.get("AccountSid") != self.account_sid:
            raise WebhookRejected("AccountSid of another Twilio account")
        from twilio.request_validator import RequestValidator

        # Rebuilt from PUBLIC_URL: behind a proxy the request's own host and scheme are not what
        # Twilio called. The validator tries the URL with and without its default port.
        url = django_settings.PUBLIC_URL + request.get_full_path()
        if not RequestValidator(self.auth_token).validate(url, params, signature):
            raise WebhookRejected("X-Twilio-Signature does not match")

    def parse_webhook(self, content_type: str, body: bytes) -> list[DeliveryEvent]:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        sid = fields.get("CallSid", "")
        if not sid:
            raise ValueError("Twilio voice callback without CallSid")
        if "Digits" in fields:
            return []
        status = (fields.get("CallStatus") or "").lower()
        if status not in EVENT_TYPES:
            raise UnsupportedWebhookEvent(f"unsupported Twilio CallStatus {status!r}")
        event_type = CALL_STATUS_EVENTS[status]
        if event_type is None:
            return []
        answered_by = fields.get("AnsweredBy", "")
        error_code = fields.get("ErrorCode", "")
        duration = _int(fields.get("CallDuration", ""))
        reason = ""
        if status == "completed" and answered_by in MACHINE_ANSWERS:
            event_type, reason = "undelivered", f"answered by {answered_by.replace('_', ' ')}"
        elif status == "failed" and error_code in REFUSED_ERROR_CODES:
            event_type, reason = "rejected", f"Twilio error {error_code}"
        elif event_type == "undelivered":
            reason = f"call {status}" + (f" (Twilio error {error_code})" if error_code else "")
        extra: dict[str, Any] = {
            "call_status": status,
            "duration_seconds": duration if event_type == "delivered" else 0,
        }
        if answered_by:
            extra["answered_by"] = answered_by
        if error_code:
            extra["error_code"] = error_code
        return [
            DeliveryEvent(
                type=event_type,
                occurred_at=_rfc2822(fields.get("Timestamp", "")) or _received_at(),
                provider=NAME,
                provider_event_id=f"{sid}:{status}",
                provider_message_id=sid,
                reason=reason,
                extra=extra,
            )
        ]


def twilio_voice_providers() -> list[TwilioVoiceProvider]:
    """One provider per distinct twilio_voice route settings, plus one from the environment: what
    a request from Twilio (TwiML fetch, Gather answer) is checked against."""
    from messaging.models import ProviderRoute

    distinct: dict[str, dict[str, Any]] = {}
    for settings in ProviderRoute.objects.filter(provider=NAME).values_list("settings", flat=True):
        distinct.setdefault(json.dumps(settings, sort_keys=True, default=str), settings or {})
    distinct.setdefault("{}", {})
    return [TwilioVoiceProvider(settings) for settings in distinct.values()]


def twilio_voice_request_verify(request: HttpRequest, providers: Iterable[TwilioVoiceProvider] | None = None) -> None:
    """WebhookRejected unless some twilio_voice route signed the request."""
    reasons = []
    for provider in providers if providers is not None else twilio_voice_providers():
        try:
            provider.verify_webhook(request)
            return
        except WebhookRejected as exc:
            reasons.append(str(exc))
    raise WebhookRejected("; ".join(reasons) or "no Twilio voice route")


def _form_params(request: HttpRequest) -> dict[str, str]:
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return {}


def _twilio_error(response: requests.Response) -> tuple[str, str]:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    code = str(payload.get("code") or response.status_code)
    message = payload.get("message") or response.reason or "Twilio error"
    return f"{message} (Twilio error {code})", code


def _int(raw: str) -> int:
    return int(raw) if raw.strip().isdigit() else 0


def _rfc2822(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None


def _received_at() -> datetime:
    from messaging.webhooks import webhook_received_at

    return webhook_received_at.get() or timezone.now()
