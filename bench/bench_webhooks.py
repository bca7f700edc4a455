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
4. processing: what phases 2 and 3 stored, processed by the processing task's batches
   (`inbound_webhooks_process`: message statuses, Event rows and sending counters written) in
   separate worker processes like django-q2's (the batched rows: half with one worker, half with
   two at once, Q_CLUSTER's default), next to, from the same run:
   - the naive baseline: one event at a time through the ORM (get the message, create the Event,
     save the message, update the sending's counter), on a sample;
   - the physical limit: the same database writes without any Python per event (lock the
     messages, COPY the Event rows, one UPDATE of the statuses) for as many events as a batch.
   Each also prints its CPU time per event (the Python process and its PostgreSQL backend, from
   /proc), because on a shared machine the wall clock depends on everyone else's load.

Everything it creates (account, routes, messages, events, webhooks) is removed at the end.
Sizes: BENCH_WEBHOOK_SINGLE (default 6,000 requests), BENCH_WEBHOOK_BATCHES (default 80),
BENCH_WEBHOOK_CONCURRENCY (default 32 connections), BENCH_WEBHOOK_NAIVE (default 2,000 events),
BENCH_WEBHOOK_LIMIT (default 20,000 events).
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
BATCHES = int(os.environ.get("BENCH_WEBHOOK_BATCHES", 80))
BATCH_EVENTS = 1000
CONCURRENCY = int(os.environ.get("BENCH_WEBHOOK_CONCURRENCY", 32))
READ_TIMEOUT = 30.0
NAIVE = int(os.environ.get("BENCH_WEBHOOK_NAIVE", 2000))
LIMIT = int(os.environ.get("BENCH_WEBHOOK_LIMIT", 20000))
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
    sending = Sending.objects.create(
        account=account, channel="sms", total=SINGLE + BATCHES * BATCH_EVENTS + NAIVE + LIMIT
    )
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
    first = SINGLE + BATCHES * BATCH_EVENTS
    naive = [message(first + n, "http_gateway", f"gn-{prefix}-{n}") for n in range(NAIVE)]
    limit = [message(first + NAIVE + n, "http_gateway", f"gl-{prefix}-{n}") for n in range(LIMIT)]
    Message.objects.bulk_create(twilio + gateway + naive + limit, batch_size=5000)
    return account, sending, twilio, gateway, naive, limit


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


# Processing ---------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (a PostgreSQL backend on this machine), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by this process and by its database connection's backend."""

    def __init__(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend = cursor.fetchone()[0]
        self.python, self.database = time.process_time(), cpu_seconds(self.backend)

    def spent(self) -> tuple[float, float]:
        return time.process_time() - self.python, cpu_seconds(self.backend) - self.database


def _process_worker(ids: list[int], results) -> None:
    """A worker process like django-q2's: its own connection, the processing task's batches."""
    from messaging.webhooks import inbound_webhooks_process

    meter = CpuMeter()
    rows = 0
    while done := inbound_webhooks_process(ids=ids):
        rows += done
    results.put((rows, *meter.spent()))


def process(account, ids: list[int], workers: int) -> dict:
    """Process the stored rows `ids` with `workers` processes at once: events/s, CPU per event."""
    import multiprocessing

    from django.db import connections

    from messaging.models import Event

    before = Event.objects.filter(account=account).count()
    connections.close_all()  # each worker opens its own
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    started = time.perf_counter()
    processes = [context.Process(target=_process_worker, args=(ids, results)) for _ in range(workers)]
    for worker in processes:
        worker.start()
    spent = [results.get() for _ in processes]
    elapsed = time.perf_counter() - started
    for worker in processes:
        worker.join()
    events = Event.objects.filter(account=account).count() - before
    return {
        "rate": events / elapsed,
        "events": events,
        "rows": sum(rows for rows, _python, _database in spent),
        "python_us": sum(python for _rows, python, _database in spent) / max(events, 1) * 1e6,
        "database_us": sum(database for _rows, _python, database in spent) / max(events, 1) * 1e6,
    }


def naive_baseline(messages) -> dict:
    """One event at a time through the ORM, each in its own transaction: what recording a delivery
    report costs without batching."""
    from django.db import transaction
    from django.db.models import F

    from campaigns.models import Sending
    from messaging.models import Event, Message

    meter = CpuMeter()
    started = time.perf_counter()
    occurred = timezone.now()
    for message in messages:
        with transaction.atomic():
            row = Message.objects.select_for_update().get(public_id=message.public_id)
            event_id = f"ev-{row.provider_message_id}"
            if Event.objects.filter(provider="http_gateway", provider_event_id=event_id).exists():
                continue
            Event.objects.create(
                account_id=row.account_id,
                message=row,
                sending_id=row.sending_id,
                type="delivered",
                date=occurred,
                provider="http_gateway",
                provider_event_id=event_id,
            )
            row.status, row.final_at = "delivered", occurred
            row.save(update_fields=["status", "final_at", "updated_at"])
            Sending.objects.filter(pk=row.sending_id).update(delivered=F("delivered") + 1)
    elapsed = time.perf_counter() - started
    python, database = meter.spent()
    return {
        "rate": len(messages) / elapsed,
        "python_us": python / len(messages) * 1e6,
        "database_us": database / len(messages) * 1e6,
    }


def physical_limit(account, sending, messages) -> dict:
    """The database writes of recording the events, with no Python per event: lock the messages,
    COPY the Event rows (built before the clock starts), one UPDATE of the statuses, commit."""
    from django.db import connection, transaction

    ids = [m.pk for m in messages]
    occurred = now = timezone.now()
    provider = "http_gateway"
    rows = [
        (account.pk, m.pk, sending.pk, "delivered", occurred, "{}", "", "", False, "", provider, f"ev-{m.pk}", now)
        for m in messages
    ]
    columns = "account_id, message_id, sending_id, type, date, extra, browser, os, is_mobile, url, provider, "
    columns += "provider_event_id, created_at"
    meter = CpuMeter()
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM messaging_message WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids])
            cursor.fetchall()
        raw = connection.connection
        with raw.cursor() as cursor, cursor.copy(f"COPY messaging_event ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE messaging_message AS t SET status = 'delivered', final_at = %s, updated_at = %s "
                "FROM unnest(%s::bigint[]) AS v(id) WHERE t.id = v.id",
                [occurred, now, ids],
            )
            cursor.execute(
                "UPDATE campaigns_sending SET delivered = delivered + %s WHERE id = %s", [len(ids), sending.pk]
            )
    elapsed = time.perf_counter() - started
    python, database = meter.spent()
    return {
        "rate": len(ids) / elapsed,
        "python_us": python / len(ids) * 1e6,
        "database_us": database / len(ids) * 1e6,
    }


def stored_ids(provider: str) -> list[int]:
    from messaging.models import InboundWebhook

    pending = InboundWebhook.objects.filter(pk__gt=FIRST_WEBHOOK_ID[0], provider=provider, processed_at__isnull=True)
    return list(pending.order_by("pk").values_list("pk", flat=True))


def cpu(figures: dict) -> str:
    total = figures["python_us"] + figures["database_us"]
    return f"CPU/event {total:.1f} us (Python {figures['python_us']:.1f} + PostgreSQL {figures['database_us']:.1f})"


def main() -> int:
    total = SINGLE + BATCHES * BATCH_EVENTS
    print(f"Preparing {SINGLE:,} Twilio messages and {BATCHES * BATCH_EVENTS:,} gateway messages...", flush=True)
    account, sending, twilio, gateway, naive, limit = setup_data()
    port = free_port()
    process_, label = server_start(port)
    try:
        single = twilio_requests(twilio)
        batched = gateway_requests(gateway)
        # Warm every worker (imports, DB connections, route cache) before measuring.
        drive(port, trivial_twin(single[:200]))

        print("Posting...", flush=True)
        limit_single_s, limit_single_status = drive(port, trivial_twin(single))
        single_s, single_status = drive(port, single)
        limit_batch_s, _ = drive(port, trivial_twin(batched))
        batch_s, batch_status = drive(port, batched)
    finally:
        if process_ is not None:
            process_.terminate()
            process_.wait(10)
    del twilio, gateway, single, batched  # the worker processes inherit this process's memory

    print("Processing...", flush=True)
    single_processing = process(account, stored_ids("twilio"), workers=1)
    batched_ids = stored_ids("http_gateway")
    half = len(batched_ids) // 2
    one_worker = process(account, batched_ids[:half], workers=1)
    two_workers = process(account, batched_ids[half:], workers=2)
    naive_figures = naive_baseline(naive)
    limit_figures = physical_limit(account, sending, limit)

    from messaging.models import Event

    sending.refresh_from_db()
    recorded = Event.objects.filter(account=account).count()
    single_ok = single_status.get(200, 0)
    batch_ok = batch_status.get(200, 0)
    requests_single = SINGLE
    limit_rps = requests_single / limit_single_s
    single_rps = single_ok / single_s
    batch_eps = batch_ok * BATCH_EVENTS / batch_s
    limit_batch_eps = BATCHES * BATCH_EVENTS / limit_batch_s

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
    print("Processing stored webhooks (events recorded: Event rows, message statuses, sending counters):")
    print(
        f"  single-event rows, 1 worker: {single_processing['rate']:,.0f} events/s  {cpu(single_processing)}  "
        f"= {single_processing['rate'] / single_rps:.2f}x their accept rate"
    )
    for name, figures in (("1 worker", one_worker), ("2 workers", two_workers)):
        print(
            f"  1,000-event rows, {name}: {figures['rate']:,.0f} events/s ({figures['events']:,} events)"
            f"  {cpu(figures)}"
            f"  = {figures['rate'] / naive_figures['rate']:.0f}x naive, {figures['rate'] / limit_figures['rate']:.2f}x "
            f"the limit  [target >= 30,000/s: {verdict(figures['rate'] >= 30000)}]"
        )
    print(f"  naive ORM loop, one event per transaction ({NAIVE:,} events): {naive_figures['rate']:,.0f} events/s  "
          f"{cpu(naive_figures)}")  # fmt: skip
    print(f"  physical limit: lock + COPY + one UPDATE, no Python per event ({LIMIT:,} events): "
          f"{limit_figures['rate']:,.0f} events/s  {cpu(limit_figures)}")  # fmt: skip
    best = max(one_worker["rate"], two_workers["rate"])
    print(
        f"  processing keeps up with batched posts when it records as fast as they arrive: best {best:,.0f} "
        f"events/s processed vs {batch_eps:,.0f} accepted (the backlog is durable: rows wait, nothing is lost)"
    )
    expected = total + NAIVE + LIMIT
    print(f"Events recorded: {recorded:,} of {expected:,}; sending.delivered = {sending.delivered:,}")
    cleanup(account)
    ok = single_ok == requests_single and batch_ok == BATCHES and recorded == expected
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
