"""Event notifications out: the message's notificationUrl (GET) and the account's event
notification URL (signed form POST), delivered by django-q2 with retries.

`notifications_create(notices=...)` is called by events_record after its transaction commits, with
the URLs it already knows (`notifications_enqueue(events=...)` finds them for given Event rows). It
writes Notification rows (one per event and URL, one INSERT) and kicks `deliver_due_notifications`. That task
claims due rows in batches (FOR UPDATE SKIP LOCKED) and, in the same short transaction, pushes their
`due_at` one lease ahead before any request is made: a worker killed mid-batch leaves its rows
PENDING and they are sent again when the lease ends (at-least-once; receivers dedupe on id+event).
Every attempt is a NotificationAttempt row.

Retries (the spec: "up to 5 times", "the first retry within 1 minute, the second after 2 minutes
since the previous retry..."): any answer other than 200, a timeout or a connection error is
retried 1, 2, 3, 4 and 5 minutes after the previous attempt; after the 6th attempt fails the
notification is FAILED.

Requests go through the outbound-URL guard (config/outbound.py): its timeouts and size cap, redirects
followed up to MAX_REDIRECTS hops each checked again, one keep-alive pool per receiver shared by the
worker threads. URLs were checked when accepted, but a name may resolve to a refused address later:
such an attempt is recorded with the guard's reason and the notification is FAILED at once (asking
again would be refused again; `notifications_retry` sends it anew once the receiver is fixed).

Per-message GET (`notificationUrl`, SMS). The escapes are replaced by URL-encoded values:
  %i message id (public)           %p sender             %P recipient
  %t sent date "YYYY-MM-DD HH:MM"  %c cost               %s status (table below)
  %m operator MNC (extra "mnc", else empty)              %y event date "YYYY-MM-DD HH:MM"
  %n part number (extra "part", else 1: reports cover the whole message)
  %C campaign id (0 without a campaign)                  %S sending id
Only delivery-report events are notified there, with %s from MESSAGE_STATUS:
  sent -> ACCEPTD, delivered -> DELIVRD, undelivered / hard_bounced / soft_bounced -> UNDELIV,
  rejected -> REJECTD, expired -> EXPIRED. Engagement events (opened, clicked, unsubscribed, forms)
  are not delivery reports and go only to the account URL. DELETED, UNKNOWN and RECEIVED have no
  event of ours that means them.

Per-account POST (`Account.event_notification_url`, every event), form fields as the spec lists:
id, channel, contactId, campaignId, campaignName, formId, event, extra (JSON), smtpResponse (email
delivered/hard_bounced/soft_bounced only), eventDate (ISO 8601 like the API's dates). The header
`X-Signature: sha256=<hex>` is the HMAC-SHA256 of the raw body keyed with the account's
webhook_secret; an account without a secret gets unsigned requests.
"""

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from django.db import connection, transaction
from django.utils import timezone

from config import outbound
from config.api import iso8601
from messaging.bulk_sql import pg_insert_rows
from messaging.models import Event, Notification, NotificationAttempt, NotificationKind, NotificationStatus

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
CLAIM_BATCH = 200
# Longer than a whole batch can take (CLAIM_BATCH / WORKERS * the outbound connect + read timeouts),
# so a claimed row is not claimed again while its first request is still going.
LEASE = timedelta(minutes=5)
WORKERS = 16
MAX_REDIRECTS = 3
SIGNATURE_HEADER = "X-Signature"
KICK_INTERVAL_SECONDS = 0.5
USER_AGENT = "campaign-platform-notifications/1.0"

MESSAGE_STATUS: dict[str, str] = {
    "sent": "ACCEPTD",
    "delivered": "DELIVRD",
    "undelivered": "UNDELIV",
    "hard_bounced": "UNDELIV",
    "soft_bounced": "UNDELIV",
    "rejected": "REJECTD",
    "expired": "EXPIRED",
}
SMTP_RESPONSE_EVENTS = frozenset({"delivered", "hard_bounced", "soft_bounced"})

_last_kick = 0.0
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


# Enqueue ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventNotice:
    """A stored event and the URLs that may want to hear about it ("" when none)."""

    event_id: int
    account_id: int
    event_type: str
    message_url: str
    account_url: str


def notifications_enqueue(*, events: Sequence[Event]) -> None:
    """One Notification per event and URL: the message's notificationUrl (delivery reports only)
    and the account's event notification URL (every event)."""
    if not events:
        return
    rows = Event.objects.filter(pk__in=[event.pk for event in events]).values_list(
        "pk", "account_id", "type", "message__notification_url", "account__event_notification_url"
    )
    notifications_create(notices=[EventNotice(*row) for row in rows])


_NOTIFICATION_TYPES = {
    "account_id": "bigint",
    "event_id": "bigint",
    "kind": "varchar",
    "url": "varchar",
    "status": "varchar",
    "attempts": "smallint",
    "due_at": "timestamptz",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
}


def notifications_create(*, notices: Sequence[EventNotice]) -> None:
    """notifications_enqueue for events whose URLs are already known (events_record knows them
    from the rows it locked): no query per event, one INSERT per batch."""
    now = timezone.now()
    rows: list[dict[str, Any]] = []
    for notice in notices:
        if notice.message_url and notice.event_type in MESSAGE_STATUS:
            rows.append(_notification_row(notice, NotificationKind.MESSAGE_URL, notice.message_url, now))
        if notice.account_url:
            rows.append(_notification_row(notice, NotificationKind.ACCOUNT_URL, notice.account_url, now))
    if not rows:
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            pg_insert_rows(Notification._meta.db_table, _NOTIFICATION_TYPES, rows)
        else:
            Notification.objects.bulk_create([Notification(**row) for row in rows], batch_size=1000)
        _kick_delivery()


def _notification_row(notice: EventNotice, kind: str, url: str, now: datetime) -> dict[str, Any]:
    return {
        "account_id": notice.account_id,
        "event_id": notice.event_id,
        "kind": kind,
        "url": url,
        "status": NotificationStatus.PENDING,
        "attempts": 0,
        "due_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _kick_delivery() -> None:
    global _last_kick
    now = time.monotonic()
    if now - _last_kick < KICK_INTERVAL_SECONDS:
        return
    _last_kick = now
    transaction.on_commit(_queue_delivery_task)


def _queue_delivery_task() -> None:
    from django_q.tasks import async_task

    try:
        async_task("messaging.notifications.deliver_due_notifications", task_name="deliver_due_notifications")
    except Exception:
        logger.exception("Could not queue notification delivery; the schedule will pick it up")


# Requests ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    body: bytes = b""
    headers: dict[str, str] | None = None


def message_url_render(*, template: str, event: Event) -> str:
    """The message's notificationUrl with the spec's %-escapes replaced by URL-encoded values."""
    message = event.message
    sending = message.sending
    values = {
        "i": message.public_id,
        "p": message.sender,
        "P": message.recipient,
        "t": _minute(message.sent_at),
        "c": _decimal(message.cost),
        "s": MESSAGE_STATUS.get(event.type, "UNKNOWN"),
        "m": str(event.extra.get("mnc", "")),
        "y": _minute(event.date),
        "n": str(event.extra.get("part", 1)),
        "C": str(sending.campaign_id or 0),
        "S": str(sending.pk),
    }
    out = []
    index = 0
    # One left-to-right scan, so a replaced value is never scanned again and "%%" stays as is.
    while index < len(template):
        char = template[index]
        if char == "%" and index + 1 < len(template) and template[index + 1] in values:
            out.append(quote(values[template[index + 1]], safe=""))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def account_post_fields(*, event: Event) -> list[tuple[str, str]]:
    """The spec's form fields for the account's event notification URL, in the spec's order."""
    message = event.message
    sending = message.sending
    campaign = sending.campaign
    extra: dict[str, Any] = {key: value for key, value in (event.extra or {}).items() if not key.startswith("_")}
    smtp_response = str(extra.pop("smtp_response", "") or "")
    form_id = extra.pop("formId", extra.pop("form_id", ""))
    if event.url:
        extra["url"] = quote(event.url, safe="")
    return [
        ("id", message.public_id),
        ("channel", message.channel),
        ("contactId", str(message.contact_id or "")),
        ("campaignId", str(campaign.pk if campaign else 0)),
        ("campaignName", campaign.name if campaign else ""),
        ("formId", str(form_id or "")),
        ("event", event.type),
        ("extra", json.dumps(extra, separators=(",", ":"), default=str) if extra else ""),
        ("smtpResponse", smtp_response if message.channel == "mailing" and event.type in SMTP_RESPONSE_EVENTS else ""),
        ("eventDate", iso8601(event.date) or ""),
    ]


def signature_header_value(*, secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notification_request(notification: Notification) -> PreparedRequest:
    event = notification.event
    if notification.kind == NotificationKind.MESSAGE_URL:
        return PreparedRequest("GET", message_url_render(template=notification.url, event=event))
    body = urlencode(account_post_fields(event=event)).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    secret = notification.account.webhook_secret
    if secret:
        headers[SIGNATURE_HEADER] = signature_header_value(secret=secret, body=body)
    return PreparedRequest("POST", notification.url, body, headers)


# Delivery ---------------------------------------------------------------------------------------


def deliver_due_notifications(time_budget: float = 240.0) -> int:
    """django-q2 task (kicked after enqueue and run every minute): deliver due notifications until
    none is due or the time budget, kept under Q_CLUSTER timeout, is spent. Returns attempts made."""
    deadline = time.monotonic() + time_budget
    attempts = 0
    while time.monotonic() < deadline:
        count = notifications_deliver_batch()
        if not count:
            break
        attempts += count
    return attempts


def notifications_deliver_batch(*, now: datetime | None = None, batch_size: int = CLAIM_BATCH) -> int:
    """Claim due notifications, send them in parallel over pooled connections, record each
    attempt and schedule retries. `now` is the clock (tests pass their own)."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=NotificationStatus.PENDING, due_at__lte=now)
            .select_related("account", "event__message__sending__campaign")
            .order_by("due_at", "id")[:batch_size]
        )
        if not claimed:
            return 0
        Notification.objects.filter(pk__in=[n.pk for n in claimed]).update(due_at=now + LEASE)
    prepared = []
    outcomes: dict[int, _Outcome] = {}
    for notification in claimed:
        try:
            prepared.append((notification, notification_request(notification)))
        except Exception as exc:
            logger.exception("Could not build notification %s", notification.pk)
            outcomes[notification.pk] = _Outcome(None, f"{type(exc).__name__}: {exc}")
    results = _executor().map(_perform, [request for _notification, request in prepared])
    for (notification, _request), result in zip(prepared, results, strict=True):
        outcomes[notification.pk] = result
    _record_outcomes(claimed, outcomes, now=now)
    return len(claimed)


@dataclass(frozen=True, slots=True)
class _Outcome:
    status_code: int | None
    error: str = ""
    refused: bool = False  # the guard refused the URL: nothing was sent, and retrying cannot help


def _perform(request: PreparedRequest) -> _Outcome:
    headers = {"User-Agent": USER_AGENT, **(request.headers or {})}
    try:
        response = outbound.request(
            request.method, request.url, body=request.body or None, headers=headers, max_redirects=MAX_REDIRECTS
        )
    except outbound.OutboundRefused as exc:
        return _Outcome(None, _short(f"Refused: {exc.reason}"), refused=True)
    except outbound.OutboundError as exc:
        return _Outcome(None, _short(exc.reason))
    return _Outcome(response.status, "")


def _record_outcomes(claimed: list[Notification], outcomes: dict[int, _Outcome], *, now: datetime) -> None:
    attempts = []
    recorded_at = timezone.now()
    with transaction.atomic():
        for notification in claimed:
            outcome = outcomes[notification.pk]
            status_code, error = outcome.status_code, outcome.error
            number = notification.attempts + 1
            attempts.append(
                NotificationAttempt(notification=notification, number=number, response_status=status_code, error=error)
            )
            notification.attempts = number
            if status_code == 200:
                notification.status = NotificationStatus.DELIVERED
            elif outcome.refused or number > MAX_RETRIES:
                notification.status = NotificationStatus.FAILED
            else:
                # The n-th retry comes n minutes after the previous attempt.
                notification.due_at = now + timedelta(minutes=number)
            if notification.status != NotificationStatus.PENDING:
                notification.due_at = now
            notification.updated_at = recorded_at
        NotificationAttempt.objects.bulk_create(attempts)
        Notification.objects.bulk_update(claimed, ["attempts", "status", "due_at", "updated_at"])


def _executor() -> ThreadPoolExecutor:
    """Long-lived threads, reused batch after batch (the guard keeps the connections)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="notify")
        return _pool


def _short(text: str) -> str:
    return text[:500]


def _minute(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else ""


def _decimal(value: Any) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def notifications_retry(*, ids: list[int]) -> int:
    """Deliver the given notifications again now (after a receiver was fixed), with a fresh
    retry allowance; their earlier attempts stay on record."""
    with transaction.atomic():
        count = Notification.objects.filter(pk__in=ids).update(
            status=NotificationStatus.PENDING, due_at=timezone.now(), attempts=0
        )
        if count:
            _kick_delivery()
    return count
