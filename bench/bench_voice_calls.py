"""Voice call creation speed: `python bench/bench_voice_calls.py` (DATABASE_URL must point at
PostgreSQL; use a database of its own: every due message in it gets dispatched).

Starts the fake Twilio Calls API (tests/fakes/twilio_voice.py) in a process of its own on 127.0.0.1
and measures, in the same run, calls created per second:

- ours: voice messages (text2speech) dispatched end to end by 2 dispatcher processes (claim, the
  twilio_voice provider's Calls requests with 4 in flight over a keep-alive pool, set-based
  write-back, `sent` events, counters), timed from "go" until the last finds nothing more due
  (target >= 1,000 calls/s and >= 80 % of the fake's limit);
- a naive baseline: one ORM save before and after each call, a new HTTP connection per call, one
  Event create and one counter UPDATE per call;
- the fake's own limit: pre-built Calls requests over raw keep-alive connections (http.client), 4
  at a time in each of as many processes: what the fake itself can take;
- the provider alone: the same provider, connections and concurrency in as many processes,
  creating the same calls with no database at all (ours minus the dispatcher).

Sizes: BENCH_VOICE_CALLS (default 10,000) and BENCH_VOICE_NAIVE (default 500). Everything it
creates is removed at the end. The load average is printed: other work on a 2-core machine moves
the figures a lot.
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
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Account  # noqa: E402
from campaigns.models import Sending  # noqa: E402
from messaging.models import Event, Message, MessageStatus, ProviderRoute  # noqa: E402
from messaging.providers.twilio_voice import TwilioVoiceProvider  # noqa: E402
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402
from voice.options import VoiceOptions  # noqa: E402

CALLS = int(os.environ.get("BENCH_VOICE_CALLS", "10000"))
NAIVE = int(os.environ.get("BENCH_VOICE_NAIVE", "500"))
WORKERS = 2
BATCH = 500
CALLER = "+34911222333"
CHANNEL = "text2speech"


def start_fake() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.twilio_voice"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    line = process.stdout.readline().split()
    if line[:1] != ["READY"]:
        raise SystemExit("the fake Twilio did not start")
    return process, f"http://127.0.0.1:{line[1]}"


def route_settings(api_base: str) -> dict[str, str | int]:
    return {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": api_base, "from": CALLER, "in_flight": 4}


def make_sending(account: Account, count: int) -> Sending:
    sending = Sending.objects.create(account=account, channel=CHANNEL, total=count)
    now = timezone.now()
    prefix = uuid.uuid4().hex[:5]
    options = VoiceOptions(language="en_GB", gender="F").to_json()
    Message.objects.bulk_create(
        (
            Message(
                public_id=f"{prefix}{n:011d}",
                account=account,
                sending=sending,
                channel=CHANNEL,
                sender="",
                recipient=f"34{600000000 + n}",
                body=f"Hello {n}, your appointment is tomorrow at ten.",
                options=options,
                status=MessageStatus.QUEUED,
                due_at=now,
            )
            for n in range(count)
        ),
        batch_size=5000,
    )
    return sending


def check_all_sent(sending: Sending, count: int) -> None:
    sending.refresh_from_db()
    sent = Message.objects.filter(sending=sending, status=MessageStatus.SENT).count()
    if sent != count or sending.sent != count:
        raise SystemExit(f"expected {count} calls sent, got {sent} (counter sent={sending.sent})")


WORKER = """
import sys
import django
django.setup()
from messaging.dispatch import dispatch_due
print("ready", flush=True)
sys.stdin.readline()
while dispatch_due(budget_seconds=600, limit=int(sys.argv[1])):
    pass
"""

LIMIT_WORKER = """
import json, sys, uuid
import django
django.setup()
from messaging.providers.base import OutboundMessage
from messaging.providers.twilio_voice import TwilioVoiceProvider
from voice.options import VoiceOptions
settings, count, batch = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
provider = TwilioVoiceProvider(settings)
prefix = uuid.uuid4().hex[:6]
options = VoiceOptions(language="en_GB", gender="F").to_json()
messages = [
    OutboundMessage(message_id=n, public_id=f"raw{prefix}{n}", channel="text2speech", sender="",
                    recipient=f"34{600000000 + n}", body=f"Hello {n}, your appointment is tomorrow at ten.",
                    options=options)
    for n in range(count)
]
print("ready", flush=True)
sys.stdin.readline()
for start in range(0, count, batch):
    if not all(result.accepted for result in provider.send_batch(messages[start : start + batch])):
        sys.exit("the fake Twilio refused calls")
"""


RAW_WORKER = """
import base64, http.client, sys, threading, time, uuid
from urllib.parse import urlencode, urlsplit
api_base, sid, token, count, in_flight = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
parts = urlsplit(api_base)
auth = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
path = f"/2010-04-01/Accounts/{sid}/Calls.json"
prefix = uuid.uuid4().hex[:8]
def bodies(thread):
    for n in range(thread, count, in_flight):
        yield urlencode({"To": f"+34{600000000 + n}", "From": "+34911222333", "Url": f"https://x.test/t/{prefix}{n}/",
                         "StatusCallback": "https://x.test/s/", "StatusCallbackEvent": "completed"}).encode()
def run(thread):
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    for body in bodies(thread):
        connection.request("POST", path, body=body, headers={"Authorization": auth,
                           "Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            sys.exit("the fake Twilio refused a call")
print("ready", flush=True)
sys.stdin.readline()
threads = [threading.Thread(target=run, args=(n,)) for n in range(in_flight)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


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


def run_ours(account: Account, api_base: str, count: int) -> float:
    ProviderRoute.objects.update_or_create(
        account=account, channel=CHANNEL, defaults={"provider": "twilio_voice", "settings": route_settings(api_base)}
    )
    sending = make_sending(account, count)
    rate = run_processes([[sys.executable, "-c", WORKER, str(BATCH)] for _ in range(WORKERS)], count)
    check_all_sent(sending, count)
    return rate


def run_limit(api_base: str, count: int) -> float:
    import json

    share = count // WORKERS
    argv = [json.dumps(route_settings(api_base)), str(share), str(BATCH)]
    return run_processes([[sys.executable, "-c", LIMIT_WORKER, *argv] for _ in range(WORKERS)], share * WORKERS)


def run_raw(api_base: str, count: int) -> float:
    """What the fake itself can take: pre-built requests over raw keep-alive connections, no provider."""
    share = count // WORKERS
    argv = [api_base, ACCOUNT_SID, AUTH_TOKEN, str(share), "4"]
    return run_processes([[sys.executable, "-c", RAW_WORKER, *argv] for _ in range(WORKERS)], share * WORKERS)


def run_naive(account: Account, api_base: str, count: int) -> float:
    sending = make_sending(account, count)
    provider = TwilioVoiceProvider(route_settings(api_base))
    url = f"{api_base}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    started = time.perf_counter()
    for message in Message.objects.filter(sending=sending).order_by("id"):
        message.status = MessageStatus.IN_FLIGHT
        message.save()
        from messaging.providers.base import OutboundMessage

        outbound = OutboundMessage(
            message_id=message.pk,
            public_id=message.public_id,
            channel=CHANNEL,
            sender="",
            recipient=message.recipient,
            body=message.body,
            options=message.options,
        )
        # A new connection per call: no session.
        answer = requests.post(url, data=provider.call_form(outbound), auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
        message.status = MessageStatus.SENT
        message.provider, message.provider_message_id, message.sent_at = (
            "twilio_voice",
            answer.json()["sid"],
            timezone.now(),
        )
        message.save()
        Event.objects.create(
            account=account, message=message, sending=sending, type="sent", date=timezone.now(), provider="twilio_voice"
        )
        Sending.objects.filter(pk=sending.pk).update(sent=F("sent") + 1, processed=F("processed") + 1)
    elapsed = time.perf_counter() - started
    check_all_sent(sending, count)
    return count / elapsed


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database: the figures are meant for production's engine.")
    call_command("migrate", verbosity=0)
    fake, api_base = start_fake()
    account = Account.objects.create(name=f"bench-voice-{uuid.uuid4().hex[:8]}")
    try:
        run_ours(account, api_base, 500)  # warm-up: caches, connections, WAL
        naive = run_naive(account, api_base, NAIVE)
        raw = run_raw(api_base, CALLS)
        limit = run_limit(api_base, CALLS)
        ours = run_ours(account, api_base, CALLS)
        stats = requests.get(f"{api_base}/_stats", timeout=5).json()
    finally:
        Account.objects.filter(pk=account.pk).delete()
        fake.kill()
        fake.wait()

    print(
        f"Voice calls to a local fake Twilio Calls API (PostgreSQL, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f})"
    )
    print(f"Runs: {CALLS:,} calls; naive: {NAIVE:,}; {WORKERS} processes, 4 requests in flight each")
    print(f"{'':60} {'calls/s':>9} {'vs naive':>9} {'of limit':>9} {'target':>8}")
    rows = [
        ("naive: ORM save x2, new connection, per call", naive, "", ""),
        ("fake's limit: raw keep-alive requests, no provider, no DB", raw, "", ""),
        ("provider alone: same provider and pool, no DB", limit, f"{limit / raw:8.0%}", ""),
        ("ours: dispatcher end to end", ours, f"{ours / raw:8.0%}", ">= 1000"),
    ]
    for label, rate, of_limit, target in rows:
        print(f"{label:60} {rate:9,.0f} {rate / naive:8.1f}x {of_limit:>9} {target:>8}")
    print(f"fake Twilio: {stats['received']:,} calls received, {stats['duplicates']} called twice")
    print(f"targets: {'met' if ours >= 1000 else 'MISSED'} >= 1,000 calls/s; "
          f"{'met' if ours >= 0.8 * raw else 'MISSED'} >= 80 % of the fake's limit")  # fmt: skip


if __name__ == "__main__":
    main()
