"""Provider webhook ingest speed: `python bench/bench_webhooks.py` (DATABASE_URL: PostgreSQL).

Runs the real WSGI application (config.wsgi, every middleware) under granian on 127.0.0.1, the
production server the README recommends (one worker per core, 8 blocking threads each; gunicorn
gthread or a threaded wsgiref server when granian is not installed, or BENCH_WEBHOOK_SERVER=...)
and drives it from this process with an asyncio HTTP/1.1 keep-alive client. On this 2-core
machine granian serves the trivial view ~2.5x faster than gunicorn (its HTTP side is Rust), which
is what takes single-event posts past 1,000/s; the client shares the two cores, so the trivial
view's rate is the ceiling of this setup, not of the server:

1. the physical limit: a trivial Django view answering 200 on the same server, posted the same
   bodies (same size), so the ratios show what verification and storage cost;
2. single-event posts: distinct Twilio status callbacks, each signed with X-Twilio-Signature,
   verified, stored as an InboundWebhook and answered 200 (target >= 1,000 requests/s);
3. batched posts: signed http_gateway delivery reports of 1,000 events each (target >= 30,000
   events/s accepted);
4. processing: the processing task's batches (`inbound_webhooks_process`) over what phases 2 and
   3 stored (events recorded/s: message statuses, Event rows and sending counters written),
   compared with the accept rate.

Everything it creates (account, routes, messages, events, webhooks) is removed at the end.
Sizes: BENCH_WEBHOOK_SINGLE (default 6,000 requests), BENCH_WEBHOOK_BATCHES (default 60),
BENCH_WEBHOOK_CONCURRENCY (default 32 connections), BENCH_WEBHOOK_PROCESS_SECONDS (default 30: the
processing of each phase is measured for at most that long; the rest is removed unprocessed).
"""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

SINGLE = int(os.environ.get("BENCH_WEBHOOK_SINGLE", 6000))
BATCHES = int(os.environ.get("BENCH_WEBHOOK_BATCHES", 60))
BATCH_EVENTS = 1000
CONCURRENCY = int(os.environ.get("BENCH_WEBHOOK_CONCURRENCY", 32))
READ_TIMEOUT = 30.0
PROCESS_BUDGET = float(os.environ.get("BENCH_WEBHOOK_PROCESS_SECONDS", 30))
TWILIO_SID = "AC" + "b" * 32
TWILIO_TOKEN = "bench-twilio-token"
GATEWAY_SECRET = "bench-gateway-secret"


# The server side: the project's URLs plus the trivial view of the physical limit ----------------


@csrf_exempt
def trivial(request):
    request.body  # noqa: B018  (read it, as the webhook view does)
    return HttpResponse()


urlpatterns = [path("_bench/ok", trivial), path("", include("config.urls"))]


def application(environ, start_response):
    """gunicorn entry point: the project's WSGI app with this module as URLconf."""
    global _wsgi
    if _wsgi is None:
        from django.core.wsgi import get_wsgi_application

        settings.ROOT_URLCONF = "bench_webhooks"
        _wsgi = get_wsgi_application()
    return _wsgi(environ, start_response)


_wsgi = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _executable(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def server_start(port: int):
    """The fastest WSGI server installed: granian (Rust), else gunicorn, else threaded wsgiref.
    BENCH_WEBHOOK_SERVER=granian|gunicorn|wsgiref picks one."""
    workers = str(os.cpu_count() or 2)
    choice = os.environ.get("BENCH_WEBHOOK_SERVER", "")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"}
    process = None
    if choice in ("", "granian") and _executable("granian"):
        threads = os.environ.get("BENCH_WEBHOOK_THREADS", "8")
        command = [_executable("granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", workers, "--blocking-threads", threads, "--log-level", "warning"]
        command += ["--no-access-log", "bench_webhooks:application"]
        process = subprocess.Popen(command, cwd=ROOT / "bench", env=env)
        label = f"granian, {workers} workers x {threads} threads"
    elif choice in ("", "gunicorn") and _executable("gunicorn"):
        threads = os.environ.get("BENCH_WEBHOOK_THREADS", "8")
        command = [_executable("gunicorn"), "-b", f"127.0.0.1:{port}", "-w", workers, "-k", "gthread"]
        command += ["--threads", threads, "--keep-alive", "30", "--log-level", "warning", "bench_webhooks:application"]
        process = subprocess.Popen(command, cwd=ROOT / "bench", env=env)
        label = f"gunicorn, {workers} gthread workers x {threads} threads"
    else:
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        class Threaded(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        sys.modules.setdefault("bench_webhooks", sys.modules[__name__])
        server = make_server("127.0.0.1", port, application, server_class=Threaded, handler_class=Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        label = "threaded wsgiref"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    return process, label


# The client: asyncio HTTP/1.1 keep-alive -----------------------------------------------------------


def raw_post(path_: str, body: bytes, content_type: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path_} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _worker(port: int, requests: list[bytes], cursor: list[int], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            index = cursor[0]
            if index >= len(requests):
                return
            cursor[0] += 1
            writer.write(requests[index])
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length:
                await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT)
            statuses[status] = statuses.get(status, 0) + 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def drive(port: int, requests: list[bytes]) -> tuple[float, dict[int, int]]:
    """Send every request over CONCURRENCY keep-alive connections; (seconds, status counts)."""
    statuses: dict[int, int] = {}
    cursor = [0]

    async def run() -> None:
        await asyncio.gather(*[_worker(port, requests, cursor, statuses) for _ in range(CONCURRENCY)])

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started, statuses


# Data ---------------------------------------------------------------------------------------------


def setup_data():
    from django.db.models import Max

    from accounts.models import Account
    from campaigns.models import Sending
    from messaging.models import InboundWebhook, Message, ProviderRoute

    FIRST_WEBHOOK_ID[0] = InboundWebhook.objects.aggregate(last=Max("pk"))["last"] or 0
    account = Account.objects.create(name=f"bench-webhooks-{uuid.uuid4().hex[:8]}")
    ProviderRoute.objects.create(
        account=account,
        channel="sms",
        provider="twilio",
        settings={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
    )
    ProviderRoute.objects.create(
        account=account,
        channel="landing",
        provider="http_gateway",
        settings={"url": "http://127.0.0.1:9/messages", "secret": GATEWAY_SECRET},
    )
    sending = Sending.objects.create(account=account, channel="sms", total=SINGLE + BATCHES * BATCH_EVENTS)
    now = timezone.now()
    prefix = uuid.uuid4().hex[:4]

    def message(n: int, provider: str, provider_id: str) -> Message:
        return Message(
            public_id=f"B{prefix}{n:011d}",
            account=account,
            sending=sending,
            channel="sms",
            sender="ACME",
            recipient=f"3466{n:07d}",
            body="bench",
            status="sent",
            due_at=now,
            sent_at=now,
            provider=provider,
            provider_message_id=provider_id,
        )

    twilio = [message(n, "twilio", f"SM{prefix}{n:028d}") for n in range(SINGLE)]
    gateway = [message(SINGLE + n, "http_gateway", f"gw-{prefix}-{n}") for n in range(BATCHES * BATCH_EVENTS)]
    Message.objects.bulk_create(twilio + gateway, batch_size=5000)
    return account, sending, twilio, gateway


def twilio_requests(messages) -> list[bytes]:
    from messaging.providers.twilio import twilio_signature

    url = settings.PUBLIC_URL + "/webhooks/twilio/status"
    out = []
    for message in messages:
        params = {
            "ApiVersion": "2010-04-01",
            "AccountSid": TWILIO_SID,
            "MessageSid": message.provider_message_id,
            "SmsSid": message.provider_message_id,
            "MessageStatus": "delivered",
            "SmsStatus": "delivered",
            "To": "+" + message.recipient,
            "From": "+15005550006",
        }
        body = urlencode(params).encode()
        signature = twilio_signature(TWILIO_TOKEN, url, params)
        out.append(
            raw_post(
                "/webhooks/twilio/status", body, "application/x-www-form-urlencoded", {"X-Twilio-Signature": signature}
            )
        )
    return out


def gateway_requests(messages) -> list[bytes]:
    from messaging.providers.http_gateway import gateway_signature

    out = []
    timestamp = str(int(time.time()))
    for start in range(0, len(messages), BATCH_EVENTS):
        chunk = messages[start : start + BATCH_EVENTS]
        events = [
            {
                "id": f"ev-{m.provider_message_id}",
                "message_id": m.provider_message_id,
                "reference": m.public_id,
                "status": "delivered",
                "timestamp": "2024-05-01T10:00:00+00:00",
            }
            for m in chunk
        ]
        body = json.dumps({"events": events}).encode()
        headers = {
            "X-Gateway-Timestamp": timestamp,
            "X-Gateway-Signature": gateway_signature(GATEWAY_SECRET, timestamp, body),
        }
        out.append(raw_post("/webhooks/http_gateway/", body, "application/json", headers))
    return out


def trivial_twin(requests: list[bytes]) -> list[bytes]:
    """The same requests (same bytes, same size) aimed at the trivial view."""
    twins = []
    for request in requests:
        _line, _, rest = request.partition(b"\r\n")
        twins.append(b"POST /_bench/ok HTTP/1.1\r\n" + rest)
    return twins


def cleanup(account) -> None:
    from django.db import connection

    from messaging.models import InboundWebhook

    # Only what this run stored: the rows carrying this run's message ids.
    InboundWebhook.objects.filter(pk__gt=FIRST_WEBHOOK_ID[0], provider__in=["twilio", "http_gateway"]).delete()
    with connection.cursor() as cursor:
        # Raw deletes: cascading through the ORM would load every row.
        cursor.execute("DELETE FROM messaging_notificationattempt WHERE notification_id IN "
                       "(SELECT id FROM messaging_notification WHERE account_id = %s)", [account.pk])  # fmt: skip
        cursor.execute("DELETE FROM messaging_notification WHERE account_id = %s", [account.pk])
        cursor.execute("DELETE FROM messaging_event WHERE account_id = %s", [account.pk])
        cursor.execute("DELETE FROM messaging_message WHERE account_id = %s", [account.pk])
    account.delete()


FIRST_WEBHOOK_ID = [0]


def verdict(met: bool) -> str:
    return "OK" if met else "MISSED"


def processing_rate(account) -> tuple[float, int]:
    """Run the processing task on what was stored, for at most PROCESS_BUDGET seconds; (events
    recorded per second, rows processed)."""
    from messaging.models import Event, InboundWebhook
    from messaging.webhooks import inbound_webhooks_process

    # This run's rows only (a database may hold others' unprocessed webhooks).
    pending = list(
        InboundWebhook.objects.filter(pk__gt=FIRST_WEBHOOK_ID[0], processed_at__isnull=True, error="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    before = Event.objects.filter(account=account).count()
    started = time.perf_counter()
    rows = 0
    for first in range(0, len(pending), 500):
        if time.perf_counter() - started > PROCESS_BUDGET:
            break
        chunk = pending[first : first + 500]
        while done := inbound_webhooks_process(ids=chunk):
            rows += done
    elapsed = time.perf_counter() - started
    return (Event.objects.filter(account=account).count() - before) / elapsed, rows


def main() -> int:
    print(f"Preparing {SINGLE:,} Twilio messages and {BATCHES * BATCH_EVENTS:,} gateway messages...", flush=True)
    account, sending, twilio, gateway = setup_data()
    port = free_port()
    process, label = server_start(port)
    try:
        single = twilio_requests(twilio)
        batched = gateway_requests(gateway)
        # Warm every worker (imports, DB connections, route cache) before measuring.
        drive(port, trivial_twin(single[:200]))

        print("Posting...", flush=True)
        limit_single_s, limit_single_status = drive(port, trivial_twin(single))
        single_s, single_status = drive(port, single)
        print("Processing single-event rows...", flush=True)
        single_process_eps, processed_single_rows = processing_rate(account)

        limit_batch_s, _ = drive(port, trivial_twin(batched))
        batch_s, batch_status = drive(port, batched)
        print("Processing batched rows...", flush=True)
        batch_process_eps, processed_batch_rows = processing_rate(account)
    finally:
        if process is not None:
            process.terminate()
            process.wait(10)

    from messaging.models import Event

    sending.refresh_from_db()
    recorded = Event.objects.filter(account=account).count()
    single_ok = single_status.get(200, 0)
    batch_ok = batch_status.get(200, 0)
    limit_rps = len(single) / limit_single_s
    single_rps = single_ok / single_s
    batch_eps = batch_ok * BATCH_EVENTS / batch_s
    limit_batch_eps = len(batched) * BATCH_EVENTS / limit_batch_s

    print(f"Server: {label}; client: asyncio keep-alive, {CONCURRENCY} connections, same machine")
    print(f"Trivial 200 view (physical limit): {limit_rps:,.0f} requests/s {limit_single_status}")
    print(
        f"Single-event posts (Twilio, verified + stored): {single_rps:,.0f} requests/s {single_status}  "
        f"= {single_rps / limit_rps:.2f}x the trivial view  [target >= 1,000/s: {verdict(single_rps >= 1000)}]"
    )
    print(f"Trivial 200 view, same 1,000-event bodies: {limit_batch_eps:,.0f} events/s")
    print(
        f"Batched posts (gateway, 1,000 events each): {batch_eps:,.0f} events/s {batch_status}  "
        f"= {batch_eps / limit_batch_eps:.2f}x the trivial view  [target >= 30,000/s: {verdict(batch_eps >= 30000)}]"
    )
    print(
        f"Processing single-event rows: {single_process_eps:,.0f} events/s ({processed_single_rows:,} rows) "
        f"= {single_process_eps / single_rps:.2f}x the single-post accept rate"
    )
    print(
        f"Processing batched rows: {batch_process_eps:,.0f} events/s ({processed_batch_rows:,} rows) "
        f"= {batch_process_eps / batch_eps:.2f}x the batched accept rate"
    )
    expected = SINGLE + BATCHES * BATCH_EVENTS
    print(
        f"Events recorded within the processing budget ({PROCESS_BUDGET:.0f} s per phase): {recorded:,} of "
        f"{expected:,}; sending.delivered = {sending.delivered:,}"
    )
    cleanup(account)
    ok = single_ok == len(single) and batch_ok == len(batched)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
