"""Dispatch speed: `python bench/bench_dispatch.py` (DATABASE_URL must point at PostgreSQL; use a
database of its own: every due message in it gets dispatched).

Starts the fake HTTP gateway (tests/fakes/http_gateway.py) in a process of its own on 127.0.0.1
and measures, in the same run, messages per second end to end (claim, provider call, write-back,
`sent` events, sending counters) by real dispatcher processes, one and then Q_WORKERS of them
(what a django-q2 cluster runs), timed from "go" until the last finds nothing more due:

- ours, per-message: the http_gateway provider with `batch: false`, one HTTP request per message
  (headers and body in one write), 4 at a time over pooled keep-alive connections, while the
  previous batch's write-back runs on the dispatcher's write-behind thread (target >= 2,000 msg/s);
- ours, batched: the same provider taking 500 messages per request (target >= 5,000 msg/s);
- a naive baseline: one ORM save before and after each message, a new HTTP connection per
  message, one Event create and one counter UPDATE per message;
- the physical limit: the same provider, connections and concurrency in as many processes,
  sending the same messages with no database at all, one per request and 500 per request.

Sizes: BENCH_DISPATCH_MESSAGES (default 20,000 for the batched runs, half that per-message) and
BENCH_DISPATCH_NAIVE (default 1,000). Everything it creates is removed at the end. The machine's
load average is printed with the figures: other work on a 2-core machine moves them a lot.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Account  # noqa: E402
from campaigns.models import Channel, Sending  # noqa: E402
from messaging.models import Event, Message, MessageStatus, ProviderRoute  # noqa: E402
from messaging.providers.http_gateway import gateway_signature  # noqa: E402

BATCHED = int(os.environ.get("BENCH_DISPATCH_MESSAGES", "20000"))
PER_MESSAGE = max(1, BATCHED // 2)
NAIVE = int(os.environ.get("BENCH_DISPATCH_NAIVE", "1000"))
SECRET = "bench-secret"
BATCH = 500


def start_gateway() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.http_gateway", "--no-record", "--secret", SECRET],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().split()
    if line[:1] != ["READY"]:
        raise SystemExit("the fake gateway did not start")
    return process, f"http://127.0.0.1:{line[1]}/messages"


def gateway_stats(url: str) -> dict[str, int]:
    return requests.get(url.replace("/messages", "/_stats"), timeout=5).json()


def make_sending(account: Account, count: int) -> Sending:
    sending = Sending.objects.create(account=account, channel=Channel.SMS, total=count)
    now = timezone.now()
    prefix = uuid.uuid4().hex[:5]
    rows = [
        Message(
            public_id=f"{prefix}{n:011d}",
            account=account,
            sending=sending,
            channel=Channel.SMS,
            sender="BENCH",
            recipient=f"34{600000000 + n}",
            body=f"Hello {n}, your code is {n % 10000:04d}",
            encoding="gsm",
            status=MessageStatus.QUEUED,
            due_at=now,
        )
        for n in range(count)
    ]
    Message.objects.bulk_create(rows, batch_size=5000)
    return sending


def check_all_sent(sending: Sending, count: int) -> None:
    sending.refresh_from_db()
    sent = Message.objects.filter(sending=sending, status=MessageStatus.SENT).count()
    if sent != count or sending.sent != count or sending.processed != count:
        raise SystemExit(
            f"expected {count} sent, got {sent} (counters sent={sending.sent} processed={sending.processed})"
        )


WORKER = """
import sys, time
import django
django.setup()
from messaging.dispatch import dispatch_due
print("ready", flush=True)
sys.stdin.readline()
handled = 0
while True:
    done = dispatch_due(budget_seconds=600, limit=int(sys.argv[1]))
    handled += done
    if not done:
        break
print(handled, flush=True)
"""


def run_ours(account: Account, url: str, count: int, *, batched: bool, workers: int) -> float:
    """End to end with `workers` dispatcher processes (what a django-q2 cluster runs), timed from
    the moment they are told to go until the last one finds nothing more due."""
    ProviderRoute.objects.update_or_create(
        account=account,
        channel=Channel.SMS,
        defaults={"provider": "http_gateway", "settings": {"url": url, "secret": SECRET, "batch": batched}},
    )
    sending = make_sending(account, count)
    rate = run_processes([[sys.executable, "-c", WORKER, str(BATCH)] for _ in range(workers)], count)
    check_all_sent(sending, count)
    return rate


LIMIT_WORKER = """
import sys, time, uuid
import django
django.setup()
from messaging.providers.base import OutboundMessage
from messaging.providers.http_gateway import HttpGatewayProvider
url, secret, count, batch, batched = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
provider = HttpGatewayProvider({"url": url, "secret": secret, "batch": batched})
prefix = uuid.uuid4().hex[:6]
messages = [
    OutboundMessage(message_id=n, public_id=f"raw{prefix}{n}", channel="sms", sender="BENCH",
                    recipient=f"34{600000000 + n}", body=f"Hello {n}, your code is {n % 10000:04d}", encoding="gsm")
    for n in range(count)
]
print("ready", flush=True)
sys.stdin.readline()
for start in range(0, count, batch):
    if not all(result.accepted for result in provider.send_batch(messages[start : start + batch])):
        sys.exit("the fake gateway refused messages")
"""


def run_limit(url: str, count: int, *, batched: bool, workers: int) -> float:
    """The same provider, connections and concurrency, in as many processes, with no database."""
    share = count // workers
    argv = [url, SECRET, str(share), str(BATCH), "1" if batched else "0"]
    return run_processes([[sys.executable, "-c", LIMIT_WORKER, *argv] for _ in range(workers)], share * workers)


def run_processes(commands: list[list[str]], count: int) -> float:
    """Start the processes, wait until each is ready, then time them from "go" to the last exit."""
    processes = [
        subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for command in commands
    ]
    for process in processes:
        if process.stdout.readline().strip() != "ready":
            raise SystemExit("a benchmark process did not start")
    started = time.perf_counter()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        if process.wait() != 0:
            raise SystemExit("a benchmark process failed")
    return count / (time.perf_counter() - started)


def run_naive(account: Account, url: str, count: int) -> float:
    sending = make_sending(account, count)
    started = time.perf_counter()
    for message in Message.objects.filter(sending=sending).order_by("id"):
        message.status = MessageStatus.IN_FLIGHT
        message.save()
        body = provider_body(message.public_id, message.body)
        # A new connection per message: no session.
        answer = requests.post(url, data=body, headers=signed(body), timeout=10).json()["results"][0]
        message.status = MessageStatus.SENT
        message.provider, message.provider_message_id, message.sent_at = "http_gateway", answer["id"], timezone.now()
        message.save()
        Event.objects.create(
            account=account, message=message, sending=sending, type="sent", date=timezone.now(), provider="http_gateway"
        )
        Sending.objects.filter(pk=sending.pk).update(sent=F("sent") + 1, processed=F("processed") + 1)
    elapsed = time.perf_counter() - started
    check_all_sent(sending, count)
    return count / elapsed


def provider_body(public_id: str, text: str, count: int = 1) -> bytes:
    import json

    messages = [{"reference": f"{public_id}-{n}", "channel": "sms", "from": "BENCH", "to": "34600000000",
                 "body": text, "encoding": "gsm", "parts": 1, "options": {}} for n in range(count)]  # fmt: skip
    return json.dumps({"messages": messages}, separators=(",", ":")).encode()


def signed(body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-Gateway-Timestamp": timestamp,
        "X-Gateway-Signature": gateway_signature(SECRET, timestamp, body),
    }


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database: the figures are meant for production's engine.")
    call_command("migrate", verbosity=0)
    workers = int(settings.Q_CLUSTER.get("workers") or 2)
    gateway, url = start_gateway()
    account = Account.objects.create(name=f"bench-dispatch-{uuid.uuid4().hex[:8]}")
    results: dict[str, float] = {}
    try:
        run_ours(account, url, 1000, batched=True, workers=1)  # warm-up: caches, connections, WAL
        results["naive"] = run_naive(account, url, NAIVE)
        for count in (1, workers):
            results[f"limit single x{count}"] = run_limit(url, PER_MESSAGE, batched=False, workers=count)
            results[f"limit batched x{count}"] = run_limit(url, BATCHED, batched=True, workers=count)
            results[f"single x{count}"] = run_ours(account, url, PER_MESSAGE, batched=False, workers=count)
            results[f"batched x{count}"] = run_ours(account, url, BATCHED, batched=True, workers=count)
        stats = gateway_stats(url)
    finally:
        Account.objects.filter(pk=account.pk).delete()
        gateway.kill()
        gateway.wait()

    naive = results["naive"]
    print(f"Dispatch to a local fake HTTP gateway (PostgreSQL, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    print(f"Per-message runs: {PER_MESSAGE:,} messages; batched runs: {BATCHED:,}; naive: {NAIVE:,}")
    print(f"{'':66} {'msg/s':>9} {'vs naive':>9} {'of limit':>9} {'target':>8}")
    rows = [("naive: ORM save x2, new connection, per message", "naive", None, "")]
    for count in (1, workers):
        who = "1 process" if count == 1 else f"{count} processes (Q_WORKERS)"
        rows += [
            (f"physical limit, 1 msg/request, no DB, {who}", f"limit single x{count}", None, ""),
            (f"ours per-message, {who}", f"single x{count}", f"limit single x{count}", ">= 2000"),
            (f"physical limit, {BATCH} msgs/request, no DB, {who}", f"limit batched x{count}", None, ""),
            (f"ours batched, {who}", f"batched x{count}", f"limit batched x{count}", ">= 5000"),
        ]
    for label, key, limit, target in rows:
        rate = results[key]
        of_limit = f"{rate / results[limit]:8.0%}" if limit else ""
        print(f"{label:66} {rate:9,.0f} {rate / naive:8.1f}x {of_limit:>9} {target:>8}")
    print(f"gateway: {stats['received']:,} messages received, {stats['duplicates']} sent twice")
    best_single = max(results["single x1"], results[f"single x{workers}"])
    best_batched = max(results["batched x1"], results[f"batched x{workers}"])
    print(
        f"per-message target {'met' if best_single >= 2000 else 'MISSED'}; "
        f"batched target {'met' if best_batched >= 5000 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
