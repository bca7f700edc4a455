"""A generic JSON-over-HTTP SMS/email gateway that takes batches.

Settings (ProviderRoute.settings):
    url             POST endpoint taking {"messages": [...]}; GET url?reference=<public id> looks one up
    secret          HMAC-SHA256 key signing our requests (X-Gateway-Timestamp, X-Gateway-Signature)
    webhook_secret  key of the delivery reports it POSTs back to us (defaults to `secret`)
    batch           false sends one message per request (a gateway without batches); default true
    batch_size      messages per request, default 500
    concurrency     requests in flight at once when `batch` is false, default 4
    timeout         seconds to wait for an answer, default 10; connect_timeout default 3
    proxy           optional proxy URL (the environment's HTTP(S)_PROXY are not read)

Request:  {"messages": [{"reference": <our public id>, "channel", "from", "to", "subject", "body",
          "encoding", "parts", "options"}]}
Answer:   200 {"results": [{"reference", "status": 202, "id"} | {"reference", "status": 4xx|429|5xx,
          "error"}]}; a whole-request 429/5xx is transient, any other 4xx permanent.
Reports:  POST {"events": [{"id", "message_id", "reference", "status", "timestamp", "reason"}]},
          signed like our requests; status is one of our event types (delivered, undelivered, ...).

One keep-alive `requests.Session` per provider instance (its connection pool carries every
request): the dispatcher keeps instances per route for the life of a worker, so consecutive
batches reuse the same connections.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
import urllib3.connection
from django.http import HttpRequest
from requests.adapters import HTTPAdapter

from messaging.providers.base import (
    DeliveryEvent,
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
    WebhookRejected,
)

# A request that may have reached the gateway although we got no answer (read timeout, connection
# dropped after sending): the dispatcher must look the message up before ever sending it again.
MAYBE_SENT = "maybe_sent"
# Delivery reports older or newer than this are refused, so a captured report cannot be replayed.
WEBHOOK_TOLERANCE_SECONDS = 300
NAME = "http_gateway"


def gateway_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class HttpGatewayProvider(Provider):
    name = NAME
    channels = frozenset({"sms", "mailing", "landing"})

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self.url: str = self.settings.get("url", "")
        self.secret: str = self.settings.get("secret", "")
        self.batch_size = max(1, int(self.settings.get("batch_size", 500)))
        self.takes_batches = bool(self.settings.get("batch", True))
        self.timeout = (float(self.settings.get("connect_timeout", 3)), float(self.settings.get("timeout", 10)))
        # Messages of one batch sent at once when the gateway takes one per request.
        self.concurrency = max(1, int(self.settings.get("concurrency", 4)))
        self.session = requests.Session()
        # Proxies come from the `proxy` setting, not the environment: reading the environment on
        # every request (requests' trust_env) costs more than the request itself at this rate.
        self.session.trust_env = False
        proxy = self.settings.get("proxy")
        if proxy:
            self.session.proxies = {"http": proxy, "https": proxy}
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(4, self.concurrency))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # Sends go through the session's own pool of keep-alive connections, driven with urllib3
        # directly: requests' per-call machinery (hooks, cookies, settings merging) costs twice
        # the request itself when messages go one per request.
        manager = adapter.proxy_manager_for(proxy) if proxy else adapter.poolmanager
        self._pool, self._target = manager, self.url
        parts = urlsplit(self.url)
        if not proxy and parts.scheme in ("http", "https"):
            # Straight to the host's pool: the manager would parse the URL on every call.
            self._pool = manager.connection_from_url(self.url)
            self._pool.ConnectionCls = _OneWriteHTTPSConnection if parts.scheme == "https" else _OneWriteHTTPConnection
            self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        # Never the secret.
        return f"<HttpGatewayProvider {self.url}>"

    # -- sending ---------------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> str:
        (result,) = self._post([message])
        if result.error is not None:
            raise result.error
        return result.provider_message_id

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        if not self.takes_batches:
            if self.concurrency == 1 or len(messages) == 1:
                return super().send_batch(messages)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="http-gateway")
            return list(self._executor.map(self._send_one, messages))
        results: list[SendResult] = []
        for start in range(0, len(messages), self.batch_size):
            chunk = messages[start : start + self.batch_size]
            try:
                results.extend(self._post(chunk))
            except ProviderError as exc:
                results.extend(SendResult(m.message_id, error=exc) for m in chunk)
        return results

    def _send_one(self, message: OutboundMessage) -> SendResult:
        try:
            return self._post([message])[0]
        except ProviderError as exc:
            return SendResult(message.message_id, error=exc)

    def _post(self, messages: list[OutboundMessage]) -> list[SendResult]:
        body = json.dumps({"messages": [_payload(m) for m in messages]}, separators=(",", ":")).encode()
        try:
            response = self._pool.urlopen(
                "POST",
                self._target,
                body=body,
                headers=self._signed_headers(body),
                timeout=urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1]),
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.ConnectTimeoutError as exc:
            # Includes NewConnectionError (refused, unresolvable): the request never left.
            raise ProviderError(f"gateway unreachable: {type(exc).__name__}", permanent=False) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise ProviderError("gateway did not answer in time", permanent=False, code=MAYBE_SENT) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # The connection broke once the request may have gone out: only a lookup can tell.
            raise ProviderError(f"connection lost: {type(exc).__name__}", permanent=False, code=MAYBE_SENT) from exc
        if response.status != 200:
            raise _http_error(response.status, _error_text(response.data))
        try:
            answers = {str(r["reference"]): r for r in json.loads(response.data)["results"]}
        except (ValueError, KeyError, TypeError) as exc:
            # It answered 200, so it probably took them; only a lookup can tell.
            raise ProviderError("unreadable gateway answer", permanent=False, code=MAYBE_SENT) from exc
        results = []
        for message in messages:
            answer = answers.get(message.public_id)
            if answer is None:
                error = ProviderError("gateway did not answer for this message", permanent=False, code=MAYBE_SENT)
                results.append(SendResult(message.message_id, error=error))
            elif answer.get("id") and int(answer.get("status", 202)) < 300:
                results.append(SendResult(message.message_id, provider_message_id=str(answer["id"])))
            else:
                error = _http_error(int(answer.get("status", 400)), str(answer.get("error", "")))
                results.append(SendResult(message.message_id, error=error))
        return results

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        return {
            "Content-Type": "application/json",
            "X-Gateway-Timestamp": timestamp,
            "X-Gateway-Signature": gateway_signature(self.secret, timestamp, body),
        }

    # -- reconciliation --------------------------------------------------------------------------

    def lookup(self, message: OutboundMessage) -> str | None:
        timestamp = str(int(time.time()))
        headers = {
            "X-Gateway-Timestamp": timestamp,
            "X-Gateway-Signature": gateway_signature(self.secret, timestamp, message.public_id.encode()),
        }
        try:
            response = self.session.get(
                self.url, params={"reference": message.public_id}, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ProviderError(f"lookup failed: {type(exc).__name__}", permanent=False) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(f"lookup answered {response.status_code}", permanent=False)
        return str(response.json()["id"])

    # -- delivery reports ------------------------------------------------------------------------

    def verify_webhook(self, request: HttpRequest) -> None:
        secret = self.settings.get("webhook_secret") or self.secret
        timestamp = request.headers.get("X-Gateway-Timestamp", "")
        signature = request.headers.get("X-Gateway-Signature", "")
        if not secret or not timestamp.isdigit() or not signature:
            raise WebhookRejected("missing gateway signature")
        if abs(time.time() - int(timestamp)) > WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookRejected("gateway signature timestamp out of tolerance")
        if not hmac.compare_digest(gateway_signature(secret, timestamp, request.body), signature):
            raise WebhookRejected("bad gateway signature")

    def parse_webhook(self, content_type: str, body: bytes) -> list[DeliveryEvent]:
        try:
            reports = json.loads(body)["events"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError('gateway report must be {"events": [...]}') from exc
        events = []
        for report in reports:
            events.append(
                DeliveryEvent(
                    type=str(report["status"]),
                    occurred_at=_parse_timestamp(report.get("timestamp")),
                    provider=NAME,
                    provider_event_id=str(report["id"]) if report.get("id") else None,
                    provider_message_id=str(report.get("message_id") or ""),
                    message_public_id=str(report.get("reference") or ""),
                    reason=str(report.get("reason") or ""),
                    url=str(report.get("url") or ""),
                    user_agent=str(report.get("user_agent") or ""),
                )
            )
        return events


class _OneWrite:
    """Request line, headers and body in one write. http.client writes the headers, then the body:
    two small packets (TCP_NODELAY), so the server wakes up twice per request, and one message per
    request pays that on every message. Only for a bytes body (ours always is); whatever goes
    wrong while connecting or writing surfaces from `request`, where urllib3 expects it."""

    _parts: list[bytes] | None = None

    def send(self, data: Any) -> None:
        if self._parts is not None and isinstance(data, bytes):
            self._parts.append(data)
            return
        super().send(data)  # type: ignore[misc]

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        if not isinstance(body, bytes) or kwargs.get("chunked"):
            super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
            return
        self._parts = []
        try:
            super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
            data = b"".join(self._parts)
        finally:
            self._parts = None
        super().send(data)  # type: ignore[misc]


class _OneWriteHTTPConnection(_OneWrite, urllib3.connection.HTTPConnection):
    pass


class _OneWriteHTTPSConnection(_OneWrite, urllib3.connection.HTTPSConnection):
    pass


def _payload(message: OutboundMessage) -> dict[str, Any]:
    return {
        "reference": message.public_id,
        "channel": message.channel,
        "from": message.sender,
        "to": message.recipient,
        "subject": message.subject,
        "body": message.body,
        "encoding": message.encoding,
        "parts": message.parts,
        "options": message.options,
    }


def _http_error(status: int, text: str) -> ProviderError:
    transient = status == 429 or status >= 500
    return ProviderError(f"gateway answered {status}: {text}"[:500], permanent=not transient, code=str(status))


def _error_text(data: bytes) -> str:
    try:
        return str(json.loads(data).get("error", ""))
    except (ValueError, AttributeError):
        return data[:200].decode("utf-8", "replace")


def _parse_timestamp(raw: Any) -> datetime:
    if not raw:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
