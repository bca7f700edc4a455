"""A local stand-in for the generic JSON-over-HTTP gateway (messaging.providers.http_gateway).

It listens on 127.0.0.1 on a free port, in a thread of the test process (`FakeGateway`) or in
a process of its own for benchmarks (`python -m tests.fakes.http_gateway`), and behaves like
the real thing:

- POST /messages {"messages": [{"reference", "channel", "from", "to", "body", ...}]} signed
  with `X-Gateway-Timestamp` + `X-Gateway-Signature` (hex HMAC-SHA256 of "<ts>." + body);
  answers 200 {"results": [{"reference", "status": 202, "id"} | {"reference", "status": 4xx,
  "error"}]}, or a whole-request error injected with `fail_next`;
- GET /messages?reference=<ref> answers 200 {"id", "reference"} for a message it took, 404
  otherwise (reconciliation);
- GET /_stats answers the counters, for a gateway running in another process.

Every message of every accepted request is recorded the moment it arrives, before the
configured latency, so a client killed while waiting for the answer still counts as delivered:
that is what a real provider would have done.

The signature code is written here independently of the provider so the tests prove the two
agree, instead of the provider agreeing with itself.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import socket
import socketserver
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_SECRET = "fake-gateway-secret"


def gateway_sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers the gateway puts on its delivery reports (and expects on our requests)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Gateway-Timestamp": ts,
        "X-Gateway-Signature": gateway_sign(secret, ts, body),
    }


class FakeGateway:
    def __init__(
        self,
        *,
        secret: str = DEFAULT_SECRET,
        latency: float = 0.0,
        max_batch: int = 1000,
        record_messages: bool = True,
        port: int = 0,
    ):
        self.secret = secret
        self.latency = latency
        self.max_batch = max_batch
        # The benchmark turns this off to keep the fake's own cost out of the figures; counts
        # per reference are kept either way.
        self.record_messages = record_messages
        self.received: list[dict[str, Any]] = []
        self.received_by_reference: Counter[str] = Counter()
        self.accepted: dict[str, str] = {}
        self.requests = 0
        # Client (host, port) pairs seen: one per TCP connection, so keep-alive shows as one.
        self.connections: set[tuple[str, int]] = set()
        self.rejected_signatures = 0
        self._rejections: dict[str, tuple[int, str]] = {}
        self._failures: list[int] = []
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/messages"

    def start(self) -> FakeGateway:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def provider_settings(self, **extra: Any) -> dict[str, Any]:
        """ProviderRoute.settings that point the http_gateway provider at this fake."""
        return {"url": self.url, "secret": self.secret, **extra}

    # -- behaviour -----------------------------------------------------------------------------

    def reject(self, reference: str, *, status: int = 400, error: str = "invalid recipient") -> None:
        """Answer this message with a per-message error (4xx permanent, 429/5xx transient)."""
        with self._lock:
            self._rejections[reference] = (status, error)

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next `times` POSTs as a whole with `status`, taking none of their messages."""
        with self._lock:
            self._failures.extend([status] * times)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: sum(self.received_by_reference.values()) >= count, timeout)

    def deliveries(self, reference: str) -> int:
        with self._lock:
            return self.received_by_reference[reference]

    def stats(self) -> dict[str, int]:
        with self._lock:
            counts = self.received_by_reference
            return {
                "requests": self.requests,
                "connections": len(self.connections),
                "received": sum(counts.values()),
                "distinct": len(counts),
                "duplicates": sum(n - 1 for n in counts.values() if n > 1),
            }

    # -- request handling (called from the server's threads) -------------------------------------

    def _accept(self, messages: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            if self._failures:
                status = self._failures.pop(0)
                return status, {"error": f"injected failure {status}"}
            if len(messages) > self.max_batch:
                return 413, {"error": f"at most {self.max_batch} messages per request"}
            results = []
            for message in messages:
                reference = str(message.get("reference", ""))
                self.received_by_reference[reference] += 1
                if self.record_messages:
                    self.received.append(message)
                if reference in self._rejections:
                    status, error = self._rejections[reference]
                    results.append({"reference": reference, "status": status, "error": error})
                    continue
                message_id = self.accepted.get(reference) or f"gw-{next(self._ids)}"
                self.accepted[reference] = message_id
                results.append({"reference": reference, "status": 202, "id": message_id})
            self._lock.notify_all()
            return 200, {"results": results}

    def _lookup(self, reference: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            message_id = self.accepted.get(reference)
        if message_id is None:
            return 404, {"error": "not found"}
        return 200, {"id": message_id, "reference": reference}


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 413: "Payload Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}  # fmt: skip


def _handler_for(gateway: FakeGateway) -> type[socketserver.StreamRequestHandler]:
    # A minimal HTTP/1.1 keep-alive server: http.server's header parsing (email.parser) costs more
    # than everything else per request, and the benchmark measures our client, not this fake.
    class Handler(socketserver.StreamRequestHandler):
        def setup(self) -> None:
            super().setup()
            # Small answers on a kept-alive connection: without NODELAY, Nagle's algorithm meets
            # the client's delayed ACK and every request costs 40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with gateway._lock:
                gateway.connections.add(self.client_address)

        def handle(self) -> None:
            while True:
                request_line = self.rfile.readline(65537)
                if not request_line.strip():
                    return
                method, target = request_line.decode("latin-1").split(" ")[:2]
                headers: dict[str, str] = {}
                while (line := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = self.rfile.read(int(headers.get("content-length") or 0))
                status, payload = self._route(method, target, headers, body)
                data = json.dumps(payload).encode()
                head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
                head += f"Content-Length: {len(data)}\r\n\r\n"
                # Headers and body in one write.
                self.wfile.write(head.encode() + data)
                if headers.get("connection", "").lower() == "close":
                    return

        def _route(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
            parts = urlsplit(target)
            if method == "GET" and parts.path == "/_stats":
                return 200, gateway.stats()
            if parts.path != "/messages":
                return 404, {"error": "not found"}
            if method == "GET":
                reference = parse_qs(parts.query).get("reference", [""])[0]
                return gateway._lookup(reference) if reference else (404, {"error": "not found"})
            expected = gateway_sign(gateway.secret, headers.get("x-gateway-timestamp", ""), body)
            if not hmac.compare_digest(expected, headers.get("x-gateway-signature", "")):
                with gateway._lock:
                    gateway.rejected_signatures += 1
                return 401, {"error": "bad signature"}
            try:
                messages = json.loads(body)["messages"]
            except (ValueError, KeyError, TypeError):
                return 400, {"error": 'body must be {"messages": [...]}'}
            status, payload = gateway._accept(messages)
            if gateway.latency:
                time.sleep(gateway.latency)
            return status, payload

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the fake HTTP gateway until killed.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--no-record", action="store_true", help="count messages without keeping them")
    args = parser.parse_args()
    gateway = FakeGateway(secret=args.secret, latency=args.latency, port=args.port, record_messages=not args.no_record)
    print(f"READY {gateway.port}", flush=True)
    try:
        gateway._server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
