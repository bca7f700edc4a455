"""A local stand-in for Twilio's Calls API (2010-04-01), on 127.0.0.1 and a free port, following
Twilio's published API description (twilio-oai `twilio_api_v2010.json`, CreateCall / ListCall).

- POST /2010-04-01/Accounts/{Sid}/Calls.json, Basic auth AccountSid:AuthToken, form fields `To` and
  `From` (required) and one of `Url` / `Twiml` / `ApplicationSid`; optional `Method`,
  `StatusCallback`, `StatusCallbackMethod`, `StatusCallbackEvent` (repeated), `MachineDetection`,
  `Timeout`. Answers 201 with a Call resource (status `queued`), or Twilio's error JSON
  `{code, message, more_info, status}`: 20003 (401) bad credentials, 21201 / 21211 missing or
  invalid To, 21213 / 21212 missing or invalid From, 21205 no Url, 21207 a Method that is not GET or
  POST, and whatever `fail_next` / `fail_for` injects (e.g. 429 code 20429, 500 code 20500).
  `delay_next` makes the next answer slow (after the call was created: client read timeouts),
  `drop_next` closes the connection without answering (nothing created). `max_per_second` caps
  call creation like an account's CPS limit (answered 429 code 20429 above it).
- GET the same path lists calls newest first, filtered by To, From, Status, StartTime, StartTime>,
  StartTime< (dates, YYYY-MM-DD), paged (PageSize, Page, `next_page_uri`), as `{"calls": [...]}`.
- Playing a call like Twilio: `status_callback(sid, fixture)` builds a status callback from one of
  tests/fakes/fixtures/twilio_voice/*.form with the call's identifiers, signed with
  X-Twilio-Signature; `fetch_twiml(sid)` builds the request Twilio makes to the call's `Url` when it
  is answered (with `AnsweredBy` when MachineDetection was asked for); `gather(sid, action_url,
  digits)` the post of a key to a <Gather> action (from the gather_digit_2 fixture). Each returns
  (url, form fields, headers); `send(...)` posts one with `transport` (default: requests) so tests
  can aim them at Django's test client. `twiml_gather_action(xml)` reads the action of a TwiML answer.
- GET /_stats: calls taken and calls whose TwiML URL was already taken (a message called twice);
  `python -m tests.fakes.twilio_voice` serves it in a process of its own (benchmarks).

Unlike Twilio, a call gets `start_time` when it is created, so a lookup right after finds it. The
signature is the SMS fake's (tests/fakes/twilio.py), written apart from messaging's own code.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import json
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import requests

from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, _error, list_page, sign

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "twilio_voice"
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
FIXTURE_ACCOUNT = "AC" + "X" * 32
FIXTURE_CALL = "CA" + "X" * 32

Transport = Callable[[str, dict[str, str], dict[str, str]], tuple[int, str]]


def fixture_fields(name: str) -> dict[str, str]:
    return dict(parse_qsl((FIXTURES / f"{name}.form").read_text().strip(), keep_blank_values=True))


def requests_transport(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    response = requests.post(url, data=params, headers=headers, timeout=10)
    return response.status_code, response.text


def twiml_gather_action(xml: str) -> str | None:
    gather = ET.fromstring(xml).find("Gather")
    return gather.get("action") if gather is not None else None


@dataclass
class Failure:
    status: int
    code: int
    message: str


@dataclass
class FakeTwilioVoice:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    max_per_second: float = 0.0  # 0: no limit
    transport: Transport = requests_transport
    calls: list[dict[str, Any]] = field(default_factory=list)
    requests_seen: int = 0

    def __post_init__(self) -> None:
        self._failures: list[Failure] = []
        self._failures_for: dict[str, Failure] = {}
        self._delays: list[float] = []
        self._drops = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._window: tuple[int, int] = (0, 0)  # (second, calls created in it)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.request_queue_size = 128
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # Life cycle -------------------------------------------------------------------------------

    def start(self) -> FakeTwilioVoice:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTwilioVoice:
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
        with self._lock:
            self._drops += 1

    def delay_next(self, seconds: float) -> None:
        with self._lock:
            self._delays.append(seconds)

    def call(self, sid: str) -> dict[str, Any]:
        return next(c for c in self.calls if c["sid"] == sid)

    # Requests Twilio makes to us --------------------------------------------------------------

    def _call_fields(self, call: dict[str, Any], fixture: str) -> dict[str, str]:
        params = fixture_fields(fixture)
        replacements = {
            FIXTURE_ACCOUNT: self.account_sid,
            FIXTURE_CALL: call["sid"],
        }
        for name, value in list(params.items()):
            params[name] = replacements.get(value, value)
        params.update(To=call["to"], Called=call["to"], From=call["from"], Caller=call["from"])
        return params

    def _signed(self, url: str, params: dict[str, str], auth_token: str | None) -> tuple[str, dict, dict]:
        return url, params, {"X-Twilio-Signature": sign(auth_token or self.auth_token, url, params)}

    def status_callback(
        self, sid: str, fixture: str, *, auth_token: str | None = None, **overrides: str
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        call = self.call(sid)
        params = {**self._call_fields(call, fixture), **overrides}
        return self._signed(call["status_callback"], params, auth_token)

    def fetch_twiml(
        self, sid: str, *, answered_by: str = "human", auth_token: str | None = None, url: str | None = None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        call = self.call(sid)
        params = {
            name: value
            for name, value in self._call_fields(call, "call_answered").items()
            if name not in ("CallbackSource", "SequenceNumber", "SipResponseCode", "Timestamp")
        }
        if call["machine_detection"]:
            params["AnsweredBy"] = answered_by
        return self._signed(url or call["url"], params, auth_token)

    def gather(
        self, sid: str, action_url: str, digits: str, *, auth_token: str | None = None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        params = {**self._call_fields(self.call(sid), "gather_digit_2"), "Digits": digits}
        if not digits:
            params.pop("Digits")
            params.pop("msg")
        return self._signed(action_url, params, auth_token)

    def send(self, request: tuple[str, dict[str, str], dict[str, str]]) -> tuple[int, str]:
        return self.transport(*request)

    # Behaviour --------------------------------------------------------------------------------

    def _over_limit(self) -> bool:
        if not self.max_per_second:
            return False
        second = int(time.monotonic())
        with self._lock:
            start, count = self._window
            if start != second:
                start, count = second, 0
            self._window = (start, count + 1)
            return count + 1 > self.max_per_second

    def create(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        first = {name: values[0] for name, values in form.items()}
        to, from_ = first.get("To", ""), first.get("From", "")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else self._failures_for.get(to)
        if failure:
            return failure.status, _error(failure.status, failure.code, failure.message)
        if self._over_limit():
            return 429, _error(429, 20429, "Too Many Requests")
        if not to:
            return 400, _error(400, 21201, "No 'To' number is specified")
        if not E164.match(to):
            return 400, _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_:
            return 400, _error(400, 21213, "No 'From' number is specified")
        if not E164.match(from_):
            return 400, _error(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if not (first.get("Url") or first.get("Twiml") or first.get("ApplicationSid")):
            return 400, _error(400, 21205, "Url parameter is required.")
        if first.get("Method", "POST").upper() not in ("GET", "POST"):
            return 400, _error(400, 21207, "Method must be GET or POST")
        now = datetime.now(UTC)
        sid = "CA" + f"{next(self._ids):032x}"
        call = {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": "2010-04-01",
            "caller_name": None,
            "date_created": format_datetime(now),
            "date_updated": format_datetime(now),
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": from_,
            "from_formatted": from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + "0" * 32,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": format_datetime(now),
            "status": "queued",
            "subresource_uris": {
                "notifications": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}/Notifications.json",
                "recordings": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}/Recordings.json",
            },
            "to": to,
            "to_formatted": to,
            "trunk_sid": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
            # What the fake keeps to play the call (not part of the resource).
            "url": first.get("Url", ""),
            "method": first.get("Method", "POST"),
            "status_callback": first.get("StatusCallback", ""),
            "status_callback_events": form.get("StatusCallbackEvent", []),
            "machine_detection": first.get("MachineDetection", ""),
            "timeout": first.get("Timeout", ""),
            "_started_on": now.date(),
        }
        with self._lock:
            self.calls.append(call)
        return 201, _public(call)

    def list_calls(self, query: dict[str, str], path: str) -> dict[str, Any]:
        def keep(call: dict[str, Any]) -> bool:
            if "To" in query and call["to"] != query["To"]:
                return False
            if "From" in query and call["from"] != query["From"]:
                return False
            if "Status" in query and call["status"] != query["Status"]:
                return False
            day = call["_started_on"].isoformat()
            if "StartTime" in query and day != query["StartTime"]:
                return False
            if "StartTime>" in query and day < query["StartTime>"]:
                return False
            return not ("StartTime<" in query and day > query["StartTime<"])

        with self._lock:
            found = [_public(c) for c in reversed(self.calls) if keep(c)]
        return list_page("calls", found, query, path)

    def stats(self) -> dict[str, int]:
        """Calls taken, and how many asked for a TwiML URL already taken (a message called twice)."""
        with self._lock:
            urls = [call["url"] for call in self.calls]
        return {"received": len(urls), "duplicates": len(urls) - len(set(urls))}

    def authorised(self, header: str, sid: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return sid == self.account_sid and user == self.account_sid and hmac.compare_digest(password, self.auth_token)


_PRIVATE = frozenset({"url", "method", "status_callback", "status_callback_events", "machine_detection", "timeout"})


def _public(call: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in call.items() if not k.startswith("_") and k not in _PRIVATE}


def _handler_for(fake: FakeTwilioVoice) -> type[BaseHTTPRequestHandler]:
    path_re = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Calls\.json$")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body are written apart: without this, Nagle holds the body back until the
            # client's delayed ACK (40 ms) on every keep-alive request.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
            form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
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
            if urlsplit(self.path).path == "/_stats":
                self._answer(200, fake.stats())
                return
            if self._route() is None:
                return
            parts = urlsplit(self.path)
            self._answer(200, fake.list_calls(dict(parse_qsl(parts.query)), parts.path))

    return Handler


def main() -> None:
    """`python -m tests.fakes.twilio_voice [--max-per-second N]`: serve until killed, printing
    `READY <port>` once listening (the benchmarks run it in a process of its own)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--max-per-second", type=float, default=0.0)
    arguments = parser.parse_args()
    fake = FakeTwilioVoice(max_per_second=arguments.max_per_second).start()
    print(f"READY {fake._server.server_address[1]}", flush=True)
    fake._thread.join()


if __name__ == "__main__":
    main()
