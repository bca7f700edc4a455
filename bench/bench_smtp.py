"""Email through SMTP to a local sink: ours vs django-post-office, side by side.
`python bench/bench_smtp.py` (DATABASE_URL: PostgreSQL; django-post-office must be installed).

Both sides send the same BENCH_SMTP_EMAILS (default 5,000) HTML emails to the same SMTP sink,
running in a process of its own, and both start from emails already queued in the database:

- ours, end to end: Message rows (status queued) sent by `messaging.dispatch.dispatch_due` through
  an `smtp` provider route: batch claim, one SMTP connection per batch, write-back of the
  provider ids and the `sent` events;
- ours, provider only: `SmtpProvider.send_batch` on the same emails (no database), the floor the
  dispatcher adds its bookkeeping to; plain SMTP takes the lean path (messaging.providers.smtp_wire:
  MIME written straight to bytes, PIPELINING, 4 connections in parallel);
- the physical limit: one pre-built message sent over and over on one connection, pipelined (and
  with smtplib waiting for every answer, for reference); our 4 connections can pass it;
- django-post-office as shipped (default settings: 5 sending threads, a log row per email):
  emails queued with `mail.send(..., priority="medium")`, then timed `send_queued()`.

Runs in a throwaway database (created and dropped here, with post_office's tables), so nothing is
left behind. Target: ours end to end >= 2x django-post-office.
"""

import importlib
import importlib.util
import logging
import multiprocessing
import os
import sys
import time
import types
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EMAILS = int(os.environ.get("BENCH_SMTP_EMAILS", 5000))
BODY = "<html><body><h1>Spring offers</h1>" + "<p>Lorem ipsum dolor sit amet, consectetur.</p>" * 40 + "</body></html>"
HEADERS = {"List-Unsubscribe": "<https://acme.test/u/x>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _settings_with_post_office(port: int) -> None:
    base = importlib.import_module("config.settings")
    module = types.ModuleType("bench_smtp_settings")
    module.__dict__.update({name: value for name, value in vars(base).items() if name.isupper()})
    module.INSTALLED_APPS = [*base.INSTALLED_APPS, "post_office"]
    module.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    module.EMAIL_HOST, module.EMAIL_PORT = "127.0.0.1", port
    module.POST_OFFICE = {"BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"}}
    database = dict(base.DATABASES["default"])
    database["TEST"] = {"NAME": f"bench_smtp_{os.getpid()}"}
    module.DATABASES = {"default": database}
    sys.modules["bench_smtp_settings"] = module
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_smtp_settings"


def _run_sink(port: int, received, ready) -> None:
    from tests.fakes.smtp_sink import SmtpSink

    sink = SmtpSink(count_only=True, port=port).start()
    ready.set()
    while True:
        received.value = sink.count
        time.sleep(0.05)


def _wait_for(received, expected: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while received.value < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return received.value


def main() -> int:
    from tests.fakes.smtp_sink import _free_port

    if importlib.util.find_spec("post_office") is None:
        raise SystemExit('django-post-office is not installed: pip install -e ".[bench]"')

    port = _free_port()
    received = multiprocessing.Value("l", 0)
    ready = multiprocessing.Event()
    sink_process = multiprocessing.Process(target=_run_sink, args=(port, received, ready), daemon=True)
    sink_process.start()
    ready.wait(30)

    _settings_with_post_office(port)
    import django

    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    print("Creating a throwaway database...", flush=True)
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        return _measure(port, received)
    finally:
        from django.db import connections

        connections.close_all()
        teardown_databases(old_config, verbosity=0)
        sink_process.terminate()


def _measure(port: int, received) -> int:
    from django.utils import timezone
    from post_office import mail as post_office_mail

    # post_office logs every batch at INFO; keep the output to the figures.
    logging.getLogger("post_office").setLevel(logging.WARNING)

    from accounts.models import Account
    from campaigns.models import Sending, SendingStatus
    from messaging.dispatch import dispatch_due
    from messaging.models import Message, MessageStatus, ProviderRoute
    from messaging.providers.base import OutboundMessage
    from messaging.providers.smtp import SmtpProvider

    connection_settings = {"host": "127.0.0.1", "port": port, "timeout": 10}
    route_settings = {"backend": "django.core.mail.backends.smtp.EmailBackend", "connection": connection_settings}

    # Ours, end to end --------------------------------------------------------------------------
    account = Account.objects.create(name=f"bench-smtp-{uuid.uuid4().hex[:6]}")
    ProviderRoute.objects.create(account=account, channel="mailing", provider="smtp", settings=route_settings)
    sending = Sending.objects.create(account=account, channel="mailing", status=SendingStatus.SENDING, total=EMAILS)
    now = timezone.now()
    Message.objects.bulk_create(
        [
            Message(
                public_id=f"S{n:013d}",
                account=account,
                sending=sending,
                channel="mailing",
                sender="news@acme.test",
                recipient=f"user{n}@example.com",
                subject="Spring offers",
                body=BODY,
                options={"from_name": "ACME News", "headers": HEADERS},
                status=MessageStatus.QUEUED,
                due_at=now,
            )
            for n in range(EMAILS)
        ],
        batch_size=2000,
    )
    start_count = received.value
    started = time.perf_counter()
    handled = dispatch_due(budget_seconds=600)
    ours_s = time.perf_counter() - started
    ours_received = _wait_for(received, start_count + EMAILS) - start_count
    ours_sent = Message.objects.filter(sending=sending, status=MessageStatus.SENT).count()

    # Ours, provider only -----------------------------------------------------------------------
    provider = SmtpProvider(route_settings)
    outbound = [
        OutboundMessage(
            message_id=n,
            public_id=f"P{n:013d}",
            channel="mailing",
            sender="news@acme.test",
            recipient=f"user{n}@example.com",
            subject="Spring offers",
            body=BODY,
            options={"from_name": "ACME News", "headers": HEADERS},
        )
        for n in range(EMAILS)
    ]
    start_count = received.value
    started = time.perf_counter()
    for first in range(0, EMAILS, 500):
        provider.send_batch(outbound[first : first + 500])
    provider_s = time.perf_counter() - started
    provider_received = _wait_for(received, start_count + EMAILS) - start_count

    # The physical limit: one pre-built message pushed over one connection, pipelined as our
    # lean path does (and, for reference, with smtplib waiting for every answer) ---------------
    import smtplib

    from messaging.providers.smtp_wire import smtp_send

    prebuilt = provider.build_email(outbound[0])[0].message().as_bytes(linesep="\r\n")
    limits = {}
    for label, send in (("pipelined", smtp_send), ("smtplib", smtplib.SMTP.sendmail)):
        start_count = received.value
        client = smtplib.SMTP("127.0.0.1", port)
        client.ehlo()
        started = time.perf_counter()
        for n in range(EMAILS):
            send(client, "news@acme.test", [f"user{n}@example.com"], prebuilt)
        limits[label] = EMAILS / (time.perf_counter() - started)
        client.quit()
        _wait_for(received, start_count + EMAILS)

    # django-post-office ------------------------------------------------------------------------
    from post_office.models import STATUS, Email

    for n in range(EMAILS):
        post_office_mail.send(
            recipients=[f"user{n}@example.com"],
            sender="ACME News <news@acme.test>",
            subject="Spring offers",
            message="Spring offers",
            html_message=BODY,
            headers=HEADERS,
            priority="medium",
        )
    start_count = received.value
    started = time.perf_counter()
    # send_queued() takes one batch (BATCH_SIZE, 100 by default); its management command repeats it.
    while Email.objects.filter(status=STATUS.queued).exists():
        post_office_mail.send_queued(processes=1)
    post_office_s = time.perf_counter() - started
    post_office_received = _wait_for(received, start_count + EMAILS) - start_count
    post_office_sent = Email.objects.filter(status=STATUS.sent).count()

    ours_rate = EMAILS / ours_s
    provider_rate = EMAILS / provider_s
    post_office_rate = EMAILS / post_office_s
    limit_rate = limits["pipelined"]
    print(
        f"{EMAILS:,} HTML emails (~{len(BODY) // 100 / 10:.1f} KB) to a local SMTP sink in its own process "
        f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"Physical limit (one pre-built message, one connection, no database): {limit_rate:,.0f} emails/s "
        f"pipelined, {limits['smtplib']:,.0f} emails/s with smtplib waiting for each answer"
    )
    print(
        f"Ours, end to end (dispatch_due -> smtp provider): {ours_rate:,.0f} emails/s "
        f"({handled:,} handled, {ours_sent:,} sent, sink got {ours_received:,})"
    )
    print(
        f"Ours, provider only (SmtpProvider.send_batch): {provider_rate:,.0f} emails/s (sink got {provider_received:,})"
    )
    print(
        f"django-post-office send_queued: {post_office_rate:,.0f} emails/s "
        f"({post_office_sent:,} sent, sink got {post_office_received:,})"
    )
    ratio = ours_rate / post_office_rate
    print(
        f"Ours end to end = {ratio:.2f}x django-post-office [target >= 2x: {'OK' if ratio >= 2 else 'MISSED'}]; "
        f"provider only = {provider_rate / post_office_rate:.2f}x; "
        f"vs the physical limit: ours {ours_rate / limit_rate:.2f}x, post-office {post_office_rate / limit_rate:.2f}x"
    )
    return 0 if ours_received == EMAILS and post_office_received == EMAILS else 1


if __name__ == "__main__":
    sys.exit(main())
