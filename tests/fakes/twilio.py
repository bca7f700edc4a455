"""A local stand-in for Twilio's Messages API (2010-04-01), on 127.0.0.1 and a free port.

- POST /2010-04-01/Accounts/{Sid}/Messages.json (form: To, From | MessagingServiceSid, Body,
  StatusCallback) with Basic auth AccountSid:AuthToken answers 201 with a Message resource, or
  Twilio's JSON error bodies: 20003 (401) for bad credentials, 21211 (400) for an invalid 'To',
  21602 / 21603 / 21606 (400) for a missing body / sender, and whatever `fail_next` or `fail_for`
  injects (e.g. 429 code 20429, 500 code 20500). `delay_next` makes the next answer slow (client
  read timeouts) and `drop_next` closes the connection without answering.
- GET  /2010-04-01/Accounts/{Sid}/Messages.json?To=&From=&DateSent=&DateSent>=&DateSent<=&PageSize=
  lists them, newest first, paged like Twilio (`next_page_uri`), for reconciliation lookups.
- `status_callback(...)` builds a StatusCallback exactly as Twilio sends it (form fields and the
  X-Twilio-Signature header); `post_status_callback` sends it to a live server;
  `inbound_message(...)` builds an inbound SMS webhook; `inbound_fixture(...)` builds one from the
  bodies captured from Twilio's documentation in tests/fakes/fixtures/twilio/ (see SOURCE.md there).

Unlike Twilio, a message gets `date_sent` when it is created (as if sent at once), so a lookup
right after a send finds it. The signature code is written here independently of
messaging.providers.twilio so the tests prove the two agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
FIXTURES = Path(__file__).parent / "fixtures" / "twilio"
_SID_FIELDS = ("MessageSid", "SmsSid", "SmsMessageSid")


def inbound_fixture(
    name: str,
    *,
    url: str,
    auth_token: str = AUTH_TOKEN,
    account_sid: str = ACCOUNT_SID,
    sid: str | None = None,
    **fields: str,
) -> tuple[str, dict[str, str], dict[str, str]]:
    """(url, form fields, headers) of the Twilio webhook stored as `<name>.form`, with AccountSid
    (and every sid field when `sid` is given) and any `fields` (Body=, From=, To=…) replaced, signed."""
    params = dict(parse_qsl((FIXTURES / f"{name}.form").read_text().strip(), keep_blank_values=True))
    params["AccountSid"] = account_sid
    if sid:
        params.update({key: sid for key in _SID_FIELDS if key in params})
    params.update(fields)
    return url, params, {"X-Twilio-Signature": sign(auth_token, url, params)}


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's request signature: URL followed by every POST parameter name and value, names in
    alphabetical order, HMAC-SHA1 with the auth token, base64."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@dataclass
class Failure:
    status: int
    code: int
    message: str


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests_seen: int = 0

    def __post_init__(self) -> None:
        self._failures: list[Failure] = []
        self._failures_for: dict[str, Failure] = {}
        self._delays: list[float] = []
        self._drops = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # Life cycle -------------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # Scripting --------------------------------------------------------------------------------

    def fail_next(self, status: int, code: int, message: str, *, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([Failure(status, code, message)] * times)

    def fail_for(self, to: str, status: int, code: int, message: str) -> None:
        with self._lock:
            self._failures_for[to] = Failure(status, code, message)

    def drop_next(self) -> None:
        """The next POST is read and the connection closed without an answer (nothing created)."""
        with self._lock:
            self._drops += 1

    def delay_next(self, seconds: float) -> None:
        """The next POST is processed (the message is taken) and then answered late."""
        with self._lock:
            self._delays.append(seconds)

    # Webhooks Twilio would send ---------------------------------------------------------------

    def status_callback(
        self, sid: str, status: str, *, url: str | None = None, error_code: str = "", auth_token: str | None = None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """(url, form fields, headers) of the StatusCallback Twilio sends for message `sid`."""
        message = next(m for m in self.messages if m["sid"] == sid)
        url = url or message["status_callback"]
        params = {
            "ApiVersion": "2010-04-01",
            "AccountSid": self.account_sid,
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": status,
            "MessageStatus": status,
            "To": message["to"],
            "From": message["from"] or "",
        }
        if message.get("messaging_service_sid"):
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code:
            params["ErrorCode"] = error_code
        headers = {"X-Twilio-Signature": sign(auth_token or self.auth_token, url, params)}
        return url, params, headers

    def post_status_callback(self, sid: str, status: str, **kwargs: Any) -> requests.Response:
        url, params, headers = self.status_callback(sid, status, **kwargs)
        return requests.post(url, data=params, headers=headers, timeout=10)

    def inbound_message(
        self, *, url: str, from_: str, to: str, body: str, sid: str | None = None, auth_token: str | None = None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """(url, form fields, headers) of the webhook Twilio sends when `from_` texts `to`."""
        sid = sid or "SM" + hashlib.md5(f"{from_}{to}{body}{time.time()}".encode()).hexdigest()
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "To": to,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": "2010-04-01",
        }
        return url, params, {"X-Twilio-Signature": sign(auth_token or self.auth_token, url, params)}

    # Behaviour --------------------------------------------------------------------------------

    def create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        to = form.get("To", "")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else self._failures_for.get(to)
        if failure:
            return failure.status, _error(failure.status, failure.code, failure.message)
        if not E164.match(to):
            return 400, _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("Body"):
            return 400, _error(400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return 400, _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
        now = datetime.now(UTC)
        sid = "SM" + f"{next(self._ids):032x}"
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": format_datetime(now),
            "date_sent": format_datetime(now),
            "date_updated": format_datetime(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or "+15005550006",
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "status_callback": form.get("StatusCallback", ""),
            "_sent_on": now.date(),
        }
        with self._lock:
            self.messages.append(message)
        return 201, _public(message)

    def list_messages(self, query: dict[str, str], path: str) -> dict[str, Any]:
        def keep(message: dict[str, Any]) -> bool:
            if "To" in query and message["to"] != query["To"]:
                return False
            if "From" in query and message["from"] != query["From"]:
                return False
            day = message["_sent_on"].isoformat()
            if "DateSent" in query and day != query["DateSent"]:
                return False
            if "DateSent>" in query and day < query["DateSent>"]:
                return False
            return not ("DateSent<" in query and day > query["DateSent<"])

        with self._lock:
            found = [_public(m) for m in reversed(self.messages) if keep(m)]
        return list_page("messages", found, query, path)

    def authorised(self, header: str, sid: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return sid == self.account_sid and user == self.account_sid and hmac.compare_digest(password, self.auth_token)


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_") and k != "status_callback"}


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    path_re = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self) -> str | None:
            match = path_re.match(urlsplit(self.path).path)
            if not match:
                self._answer(404, _error(404, 20404, "The requested resource was not found"))
                return None
            if not fake.authorised(self.headers.get("Authorization", ""), match["sid"]):
                self._answer(401, _error(401, 20003, "Authenticate"))
                return None
            return match["sid"]

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            fake.requests_seen += 1
            with fake._lock:
                drop, fake._drops = fake._drops > 0, max(0, fake._drops - 1)
            if drop:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if self._route() is None:
                return
            status, payload = fake.create(form)
            with fake._lock:
                delay = fake._delays.pop(0) if fake._delays else 0.0
            if delay:
                time.sleep(delay)
            try:
                self._answer(status, payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            fake.requests_seen += 1
            if self._route() is None:
                return
            parts = urlsplit(self.path)
            self._answer(200, fake.list_messages(dict(parse_qsl(parts.query)), parts.path))

    return Handler


def list_page(key: str, found: list[dict[str, Any]], query: dict[str, str], path: str) -> dict[str, Any]:
    """One page of a Twilio list resource (PageSize / Page, the page URIs), as the 2010-04-01 API answers."""
    size = max(1, min(1000, int(query.get("PageSize", 50))))
    page = int(query.get("Page", 0))
    items = found[page * size : (page + 1) * size]
    base = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}

    def uri(number: int) -> str:
        return f"{path}?{urlencode({**base, 'PageSize': size, 'Page': number})}"

    more = (page + 1) * size < len(found)
    return {
        key: items,
        "end": page * size + max(0, len(items) - 1),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1) if more else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1) if page else None,
        "start": page * size,
        "uri": uri(page),
    }
