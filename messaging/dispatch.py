"""Crash-safe dispatch: claim due messages in batches, hand them to their provider, write the
outcome back. The Message row is the send ledger; django-q2's task table never is.

1. Claim. Due QUEUED messages of sendings that are not paused or cancelled are taken in one
   statement (PostgreSQL: `FOR UPDATE SKIP LOCKED` + UPDATE ... RETURNING) and committed as
   IN_FLIGHT with claimed_at, a fresh claim token, attempts + 1 and the provider their route
   names, BEFORE any provider call. Two dispatchers (two clusters, or a task django-q2
   redelivered while its first run still goes) therefore never hold the same message.
2. Send. The batch is grouped by (account, channel, provider); each group goes to the provider's
   `send_batch` (a provider that takes batches gets the whole group). Messages whose expiry has
   passed are not sent: they end EXPIRED with an `expired` event.
3. Write back, in one transaction per batch: the rows still holding this claim's token are
   locked and updated with one set-based UPDATE (PostgreSQL: UPDATE ... FROM (VALUES ...)):
   accepted -> SENT with provider id; permanent error -> REJECTED with the provider's reason;
   transient error (timeout, 5xx, 429) -> QUEUED again after an exponential backoff, REJECTED
   after DISPATCH_MAX_ATTEMPTS; "maybe sent" (the request may have reached the provider but no
   answer came) -> left IN_FLIGHT with the token cleared, for the reconciler to look up. Then
   one events_record call records the batch's sent / rejected / expired events, and each
   sending's `processed` advances once per batch (PENDING -> SENDING -> FINISHED).
4. Reconcile. A message IN_FLIGHT for longer than Q_CLUSTER['timeout'] (+ a margin) belongs to a
   worker that died (django-q2 kills a task at its timeout). The reconciler takes it over with a
   new token and asks the provider: it has it -> SENT with its id; it certainly does not -> QUEUED
   again; it cannot tell -> UNKNOWN with a reason. Never a blind resend.

The token is the fence: the reconciler replaces it when it takes a message over, so a dispatcher
that wakes up late cannot write over the reconciler's decision. A delivery report that arrives
before the write-back (status already past IN_FLIGHT) keeps its status; the write-back then only
adds the provider's id.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Sending, SendingStatus
from campaigns.sending.gate import dispatch_verdicts
from compliance.protocol import Hold, Skip
from messaging.bulk_sql import pg_execute, pg_update_rows
from messaging.events import events_record
from messaging.models import STATUS_RANK, EventType, Message, MessageStatus, ProviderRoute
from messaging.providers import provider_class
from messaging.providers.base import DeliveryEvent, OutboundMessage, Provider, ProviderError, SendResult
from otp.services import OTP_OPTION, otp_outbound, otp_seals_discard

logger = logging.getLogger(__name__)

DEFAULT_PROVIDER = "simulator"
# A provider error with this code means the request may have reached the provider although no
# answer came (read timeout, connection lost after sending): look it up, never resend blindly.
MAYBE_SENT = "maybe_sent"
# Sendings whose messages are never claimed.
HELD_SENDING_STATUSES = (SendingStatus.PAUSED, SendingStatus.CANCELLED)


def batch_size() -> int:
    return int(getattr(settings, "DISPATCH_BATCH_SIZE", 500))


def max_attempts() -> int:
    return int(getattr(settings, "DISPATCH_MAX_ATTEMPTS", 8))


def backoff(attempts: int) -> timedelta:
    """Delay before retrying a message after its `attempts`-th transient failure: 30 s doubling,
    capped at an hour."""
    base = float(getattr(settings, "DISPATCH_BACKOFF_SECONDS", 30))
    cap = float(getattr(settings, "DISPATCH_BACKOFF_CAP_SECONDS", 3600))
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def stale_after() -> timedelta:
    """How long a message may stay IN_FLIGHT before it is reconciled: longer than any task may
    run, since django-q2 kills a task at Q_CLUSTER['timeout']."""
    timeout = int(settings.Q_CLUSTER.get("timeout") or 300)
    return timedelta(seconds=int(getattr(settings, "DISPATCH_STALE_AFTER_SECONDS", timeout + 60)))


# ---------------------------------------------------------------------------------------------
# Claim


@dataclass
class ClaimedMessage:
    id: int
    public_id: str
    account_id: int
    sending_id: int
    channel: str
    sender: str
    recipient: str
    subject: str
    body: str
    encoding: str
    parts: int
    options: dict[str, Any]
    attempts: int
    expires_at: datetime | None
    provider: str
    due_at: datetime
    contact_id: int | None = None

    def outbound(self) -> OutboundMessage:
        # A {OTP_CODE} is stored masked and sealed: only what the provider gets carries it.
        body, options = otp_outbound(self.body, self.options)
        return OutboundMessage(
            message_id=self.id,
            public_id=self.public_id,
            channel=self.channel,
            sender=self.sender,
            recipient=self.recipient,
            body=body,
            subject=self.subject,
            encoding=self.encoding,
            parts=self.parts,
            options=options,
        )


@dataclass
class Claim:
    token: str
    messages: list[ClaimedMessage]
    started: float = field(default_factory=time.monotonic)

    @property
    def last_key(self) -> tuple[datetime, int] | None:
        """The (due_at, id) the next claim of the same run may start after."""
        return max(((m.due_at, m.id) for m in self.messages), default=None)


_CLAIMED_FIELDS = [f.name for f in ClaimedMessage.__dataclass_fields__.values()]


def _new_token() -> str:
    return uuid.uuid4().hex


def messages_claim(
    *, limit: int | None = None, now: datetime | None = None, after: tuple[datetime, int] | None = None
) -> Claim:
    """Take up to `limit` due QUEUED messages (oldest due first, after the (due_at, id) key
    `after` when given) and commit them as IN_FLIGHT."""
    limit = limit or batch_size()
    now = now or timezone.now()
    token = _new_token()
    if connection.vendor == "postgresql":
        rows = _claim_postgresql(limit=limit, now=now, token=token, after=after)
    else:
        rows = _claim_portable(limit=limit, now=now, token=token, after=after)
    rows.sort(key=lambda row: row["id"])
    return Claim(token=token, messages=[ClaimedMessage(**row) for row in rows])


def _claim_postgresql(
    *, limit: int, now: datetime, token: str, after: tuple[datetime, int] | None
) -> list[dict[str, Any]]:
    message, sending, route = Message._meta.db_table, Sending._meta.db_table, ProviderRoute._meta.db_table
    after_cursor = "AND (m.due_at, m.id) > (%(after_due)s, %(after_id)s)" if after else ""
    returning = ", ".join(f"m.{name}" for name in _CLAIMED_FIELDS)
    sql = f"""
        WITH due AS (
            SELECT m.id FROM {message} m
            WHERE m.status = %(queued)s AND m.due_at <= %(now)s {after_cursor}
              AND NOT EXISTS (SELECT 1 FROM {sending} s WHERE s.id = m.sending_id AND s.status = ANY(%(held)s))
            ORDER BY m.due_at, m.id
            LIMIT %(limit)s
            FOR UPDATE OF m SKIP LOCKED
        )
        UPDATE {message} m
        SET status = %(in_flight)s, claimed_at = %(now)s, claim_token = %(token)s,
            attempts = m.attempts + 1, updated_at = %(now)s,
            provider = COALESCE(
                (SELECT r.provider FROM {route} r WHERE r.account_id = m.account_id AND r.channel = m.channel),
                (SELECT r.provider FROM {route} r WHERE r.account_id IS NULL AND r.channel = m.channel),
                %(default)s)
        FROM due WHERE m.id = due.id
        RETURNING {returning}
    """  # noqa: S608 - table names come from model metadata, values are parameters
    params = {
        "queued": MessageStatus.QUEUED,
        "in_flight": MessageStatus.IN_FLIGHT,
        "held": list(HELD_SENDING_STATUSES),
        "now": now,
        "limit": limit,
        "token": token,
        "default": DEFAULT_PROVIDER,
    }
    if after:
        params["after_due"], params["after_id"] = after
    with transaction.atomic():
        rows = [dict(zip(_CLAIMED_FIELDS, values, strict=True)) for values in pg_execute(sql, params)]
    for row in rows:
        if isinstance(row["options"], str):  # Django leaves JSON decoding of raw rows to us
            row["options"] = json.loads(row["options"])
    return rows


def _claim_portable(
    *, limit: int, now: datetime, token: str, after: tuple[datetime, int] | None
) -> list[dict[str, Any]]:
    """SQLite (the quick start): one writer at a time, so select-then-update inside one
    transaction (taken IMMEDIATE by the settings) is already exclusive."""
    account_route = ProviderRoute.objects.filter(account_id=OuterRef("account_id"), channel=OuterRef("channel"))
    default_route = ProviderRoute.objects.filter(account__isnull=True, channel=OuterRef("channel"))
    with transaction.atomic():
        due = (
            Message.objects.filter(status=MessageStatus.QUEUED, due_at__lte=now)
            .exclude(sending__status__in=HELD_SENDING_STATUSES)
            .order_by("due_at", "id")
        )
        if after:
            due = due.filter(Q(due_at__gt=after[0]) | Q(due_at=after[0], id__gt=after[1]))
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        Message.objects.filter(pk__in=ids, status=MessageStatus.QUEUED).update(
            status=MessageStatus.IN_FLIGHT,
            claimed_at=now,
            claim_token=token,
            attempts=F("attempts") + 1,
            updated_at=now,
            provider=Coalesce(
                Subquery(account_route.values("provider")[:1]),
                Subquery(default_route.values("provider")[:1]),
                Value(DEFAULT_PROVIDER),
            ),
        )
        return list(Message.objects.filter(pk__in=ids, claim_token=token).values(*_CLAIMED_FIELDS))


# ---------------------------------------------------------------------------------------------
# Providers


# (provider name, route id) -> (route version, instance)
_provider_cache: dict[tuple[str, int | None], tuple[str, Provider]] = {}


class Routes:
    """The provider routes of a batch's accounts, read once per batch."""

    def __init__(self, account_ids: Iterable[int]):
        self.routes = {
            (route.account_id, route.channel): route
            for route in ProviderRoute.objects.filter(Q(account_id__in=set(account_ids)) | Q(account__isnull=True))
        }

    def provider(self, *, account_id: int, channel: str, name: str) -> Provider | None:
        """The provider instance for messages claimed for `name`, or None when no route of the
        account or the platform names that provider any more (the route changed since the claim)."""
        for key in ((account_id, channel), (None, channel)):
            route = self.routes.get(key)
            if route is not None and route.provider == name:
                return _provider_instance(name, route.pk, route.updated_at.isoformat(), route.settings)
            if route is not None and key[0] is not None:
                # The account's own route wins over the default, even to say "not this provider".
                return None
        if name == DEFAULT_PROVIDER and (None, channel) not in self.routes:
            return _provider_instance(name, None, "", {})
        return None


def _provider_instance(name: str, route_id: int | None, version: str, route_settings: dict[str, Any]) -> Provider:
    # One instance per route for the life of the worker, so an HTTP provider's pooled keep-alive
    # connections serve every batch instead of one; a route edited in the admin gets a new one.
    cached = _provider_cache.get((name, route_id))
    if cached is not None and cached[0] == version:
        return cached[1]
    instance = provider_class(name)(route_settings)
    _provider_cache[(name, route_id)] = (version, instance)
    return instance


# ---------------------------------------------------------------------------------------------
# Outcomes and write-back


@dataclass
class Outcome:
    status: str  # the message's new status; IN_FLIGHT means "look it up"
    provider: str = ""
    provider_message_id: str = ""
    error_code: str = ""
    error_reason: str = ""
    due_at: datetime | None = None
    event: str = ""  # the event to record: sent, rejected, expired


def _outcome_of(result: SendResult, message: ClaimedMessage, now: datetime) -> Outcome:
    if result.error is None:
        return Outcome(
            MessageStatus.SENT, provider=message.provider, provider_message_id=result.provider_message_id, event="sent"
        )
    error = result.error
    if error.code == MAYBE_SENT:
        return Outcome(
            MessageStatus.IN_FLIGHT, provider=message.provider, error_code=error.code, error_reason=error.reason
        )
    if error.permanent:
        return Outcome(
            MessageStatus.REJECTED,
            provider=message.provider,
            error_code=error.code,
            error_reason=error.reason,
            event="rejected",
        )
    return _retry_or_give_up(message.attempts, error.reason, error.code, now, provider=message.provider)


def _retry_or_give_up(attempts: int, reason: str, code: str, now: datetime, *, provider: str = "") -> Outcome:
    if attempts >= max_attempts():
        reason = f"{reason} (gave up after {attempts} attempts)"
        return Outcome(
            MessageStatus.REJECTED, provider=provider, error_code=code, error_reason=reason, event="rejected"
        )
    return Outcome(MessageStatus.QUEUED, error_code=code, error_reason=reason, due_at=now + backoff(attempts))


@dataclass(slots=True)
class _LockedRow:
    pk: int
    public_id: str
    sending_id: int
    status: str
    sent_at: datetime | None
    due_at: datetime
    final_at: datetime | None


_LOCKED_FIELDS = ("id", "public_id", "sending_id", "status", "sent_at", "due_at", "final_at")


def _claimed_lock(*, ids: list[int], token: str) -> list[_LockedRow]:
    """Lock the rows that still hold `token` (the fence), in id order."""
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT {', '.join(_LOCKED_FIELDS)} FROM {Message._meta.db_table} "  # noqa: S608
            "WHERE id = ANY(%s) AND claim_token = %s ORDER BY id FOR UPDATE"
        )
        return [_LockedRow(*values) for values in pg_execute(sql, [ids, token])]
    locked = Message.objects.select_for_update().filter(pk__in=ids, claim_token=token).order_by("id")
    return [_LockedRow(*values) for values in locked.values_list(*_LOCKED_FIELDS)]


def _write_back(*, token: str, outcomes: dict[int, Outcome], now: datetime, otp_sealed: Iterable[int] = ()) -> int:
    """Apply the outcomes to the rows that still hold `token`, record their events and advance
    their sendings, in one transaction; returns how many rows it applied to."""
    if not outcomes:
        return 0
    with transaction.atomic():
        rows = _claimed_lock(ids=list(outcomes), token=token)
        updates: list[dict[str, Any]] = []
        events: list[DeliveryEvent] = []
        processed: Counter[int] = Counter()
        for row in rows:
            outcome = outcomes[row.pk]
            if row.status != MessageStatus.IN_FLIGHT:
                # A delivery report got here first: the provider has the message and its status
                # is already further along. Keep it; only add what the report could not know.
                if outcome.status != MessageStatus.SENT or STATUS_RANK[row.status] < STATUS_RANK[MessageStatus.SENT]:
                    continue
                status, final_at = row.status, row.final_at
            else:
                status = outcome.status
                final_at = now if STATUS_RANK[status] >= STATUS_RANK[MessageStatus.DELIVERED] else None
            updates.append(
                {
                    "id": row.pk,
                    "status": status,
                    # Leaving IN_FLIGHT for a lookup: clearing the token hands it to the reconciler.
                    "claim_token": "" if status == MessageStatus.IN_FLIGHT else token,
                    "provider": outcome.provider,
                    "provider_message_id": outcome.provider_message_id,
                    "error_code": outcome.error_code[:64],
                    "error_reason": outcome.error_reason,
                    "sent_at": now if outcome.status == MessageStatus.SENT else row.sent_at,
                    "final_at": final_at,
                }
            )
            if outcome.due_at is not None:
                updates[-1]["due_at"] = outcome.due_at
            if outcome.event:
                events.append(
                    DeliveryEvent(
                        type=outcome.event,
                        occurred_at=now,
                        provider=outcome.provider,
                        # The ledger sends a message once, so it reports these once.
                        provider_event_id=f"dispatch:{row.public_id}:{outcome.event}",
                        provider_message_id=outcome.provider_message_id,
                        message_public_id=row.public_id,
                        reason=outcome.error_reason,
                    )
                )
            if status not in (MessageStatus.QUEUED, MessageStatus.IN_FLIGHT, MessageStatus.SCHEDULED):
                processed[row.sending_id] += 1
        messages_update_set(updates, now=now)
        # Messages that left the outbox never need their sealed one-time code again.
        sealed = set(otp_sealed)
        if sealed:
            gone = (MessageStatus.QUEUED, MessageStatus.IN_FLIGHT)
            otp_seals_discard(message_ids=[u["id"] for u in updates if u["id"] in sealed and u["status"] not in gone])
        events_record(events=events)
        sendings_progress(processed=processed, now=now)
    return len(updates)


_UPDATE_TYPES = {
    "id": "bigint",
    "status": "varchar",
    "claim_token": "varchar",
    "provider": "varchar",
    "provider_message_id": "varchar",
    "error_code": "varchar",
    "error_reason": "text",
    "due_at": "timestamptz",
    "sent_at": "timestamptz",
    "final_at": "timestamptz",
    "updated_at": "timestamptz",
}


def messages_update_set(updates: list[dict[str, Any]], *, now: datetime) -> None:
    """One UPDATE per shape of change (the columns a dict names besides `id`) for many messages
    with different values: UPDATE ... FROM unnest(...) on PostgreSQL, Django's CASE-based
    bulk_update elsewhere."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for update in updates:
        shapes[tuple(sorted(update))].append({**update, "updated_at": now})
    for shape, rows in shapes.items():
        if connection.vendor == "postgresql":
            pg_update_rows(Message._meta.db_table, {c: _UPDATE_TYPES[c] for c in ("id", *shape, "updated_at")}, rows)
        else:
            columns = [c for c in (*shape, "updated_at") if c != "id"]
            Message.objects.bulk_update(
                [Message(pk=row["id"], **{c: row[c] for c in columns}) for row in rows], columns
            )


def sendings_progress(*, processed: Counter[int] | dict[int, int], now: datetime) -> None:
    """Count messages that left the outbox for good (sent, rejected, expired, unknown) and move
    each sending PENDING -> SENDING, and -> FINISHED once `processed` reaches `total`; one UPDATE
    per sending per batch. Paused, cancelled or API (OPENED) sendings keep their status."""
    for sending_id in sorted(processed):
        count = processed[sending_id]
        if not count:
            continue
        moving = Q(status__in=[SendingStatus.PENDING, SendingStatus.SENDING])
        finishing = moving & Q(total__lte=F("processed") + count)
        Sending.objects.filter(pk=sending_id).update(
            processed=F("processed") + count,
            started_at=Coalesce(F("started_at"), Value(now)),
            status=Case(
                When(finishing, then=Value(SendingStatus.FINISHED)),
                When(moving, then=Value(SendingStatus.SENDING)),
                default=F("status"),
            ),
            finished_at=Case(When(finishing, then=Value(now)), default=F("finished_at")),
            updated_at=now,
        )


# ---------------------------------------------------------------------------------------------
# Dispatch


def claim_dispatch(claim: Claim) -> int:
    """Send one claimed batch and write its outcome back; returns how many rows were written."""
    outcomes = claim_send(claim)
    return _write_back(token=claim.token, outcomes=outcomes, now=timezone.now(), otp_sealed=_otp_sealed(claim.messages))


def _otp_sealed(messages: Iterable[ClaimedMessage]) -> list[int]:
    """Ids of the messages carrying a sealed one-time code (dropped once they leave the outbox)."""
    return [message.id for message in messages if message.options.get(OTP_OPTION)]


def claim_send(claim: Claim) -> dict[int, Outcome]:
    """Hand one claimed batch to its providers; the outcome of each message, not yet written."""
    now = timezone.now()
    outcomes: dict[int, Outcome] = {}
    groups: dict[tuple[int, str, str], list[ClaimedMessage]] = defaultdict(list)
    live: list[ClaimedMessage] = []
    for message in claim.messages:
        if message.expires_at is not None and message.expires_at <= now:
            outcomes[message.id] = Outcome(
                MessageStatus.EXPIRED, error_reason="expired before it could be sent", event=EventType.EXPIRED
            )
        else:
            live.append(message)
    # The rules asked again at the last moment (campaigns.sending.gate): a STOP reply or a withdrawn
    # consent since the accept rejects the message; allowed hours that ended meanwhile hold it again.
    verdicts = dispatch_verdicts(live, now=now)
    for message in live:
        verdict = verdicts.get(message.id)
        if isinstance(verdict, Skip):
            outcomes[message.id] = Outcome(
                MessageStatus.REJECTED, error_code=verdict.reason, error_reason=verdict.reason, event="rejected"
            )
        elif isinstance(verdict, Hold):
            if message.expires_at is not None and message.expires_at <= verdict.until:
                outcomes[message.id] = Outcome(
                    MessageStatus.EXPIRED,
                    error_reason=f"expired before {verdict.reason} allowed it",
                    event=EventType.EXPIRED,
                )
            else:
                outcomes[message.id] = Outcome(MessageStatus.SCHEDULED, due_at=verdict.until)
        else:
            groups[(message.account_id, message.channel, message.provider)].append(message)

    routes = Routes(account_id for account_id, _, _ in groups)
    give_up_sending_after = stale_after().total_seconds() / 2
    for (account_id, channel, name), messages in groups.items():
        provider = routes.provider(account_id=account_id, channel=channel, name=name)
        if provider is None or time.monotonic() - claim.started > give_up_sending_after:
            # Handed to nobody: the route changed since the claim, or this batch ran so long the
            # reconciler may soon take it over. Either way, back to the queue untouched.
            for message in messages:
                outcomes[message.id] = Outcome(MessageStatus.QUEUED, due_at=now)
            continue
        outcomes.update(_group_send(provider, messages))
    return outcomes


class _WriteBehind:
    """Writes a batch's outcome back on a thread of its own (its own database connection) while
    the next batch is claimed and sent, so the provider's network time and the database's time
    overlap instead of adding up. At most one write is pending: the next waits for it. Nothing
    changes for exactly-once: the rows of a batch whose write has not committed are IN_FLIGHT
    with their token, as they are during a synchronous write, and a worker killed then leaves
    them to the reconciler. Off inside a transaction (the writer's connection would not see the
    claim) and off the PostgreSQL production engine."""

    def __init__(self) -> None:
        self.enabled = (
            connection.vendor == "postgresql"
            and not connection.in_atomic_block
            and bool(getattr(settings, "DISPATCH_WRITE_BEHIND", True))
        )
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[int] | None = None

    def submit(self, *, token: str, outcomes: dict[int, Outcome], otp_sealed: list[int], more: bool) -> int:
        """Write (or start writing) this outcome; returns the rows written by what finished.
        `more`: another batch is likely due (this claim was full). Without one there is nothing
        to overlap with, so the write happens here, sparing a small run the writer's connection."""
        if not self.enabled or not more:
            written = self.flush()
            return written + _write_back(token=token, outcomes=outcomes, now=timezone.now(), otp_sealed=otp_sealed)
        written = self.flush()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="dispatch-write-back")
        self._pending = self._executor.submit(_write_back_now, token, outcomes, otp_sealed)
        return written

    def flush(self) -> int:
        """Wait for the pending write; returns its rows (and raises what it raised)."""
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else 0

    def close(self) -> int:
        try:
            return self.flush()
        finally:
            if self._executor is not None:
                # The writer thread's connection closes with it, not at some later GC.
                self._executor.submit(connections.close_all).result()
                self._executor.shutdown()
                self._executor = None


def _write_back_now(token: str, outcomes: dict[int, Outcome], otp_sealed: list[int]) -> int:
    return _write_back(token=token, outcomes=outcomes, now=timezone.now(), otp_sealed=otp_sealed)


def _group_send(provider: Provider, messages: list[ClaimedMessage]) -> dict[int, Outcome]:
    try:
        results = provider.send_batch([m.outbound() for m in messages])
    except ProviderError as exc:
        results = [SendResult(m.id, error=exc) for m in messages]
    except Exception:
        # A provider bug: we cannot know what it sent, so the reconciler looks every one up.
        logger.exception("Provider %s failed on a batch of %d messages", provider.name, len(messages))
        results = []
    by_id = {result.message_id: result for result in results}
    now = timezone.now()
    outcomes = {}
    for message in messages:
        result = by_id.get(message.id)
        if result is None:
            result = SendResult(message.id, error=ProviderError("no result", permanent=False, code=MAYBE_SENT))
        outcomes[message.id] = _outcome_of(result, message, now)
    return outcomes


def dispatch_due(*, budget_seconds: float | None = None, limit: int | None = None) -> int:
    """Claim and send batches until nothing is due or the time budget (well under the task
    timeout) is spent; returns how many messages it handled."""
    if budget_seconds is None:
        budget_seconds = min(60.0, int(settings.Q_CLUSTER.get("timeout") or 300) / 5)
    deadline = time.monotonic() + budget_seconds
    handled = 0
    # Each claim of the run starts after the previous one's last (due_at, id): rows already
    # claimed leave entries in the queued index until vacuum, and rescanning them on every claim
    # makes a long run quadratic when vacuum is held back. A last pass from the start picks up
    # messages that became due behind the cursor (released, or due while the run went on).
    after: tuple[datetime, int] | None = None
    limit = limit or batch_size()
    writer = _WriteBehind()
    try:
        while time.monotonic() < deadline:
            claim = messages_claim(limit=limit, after=after)
            if not claim.messages:
                # The pending write may put messages back in the queue: let it land first.
                handled += writer.flush()
                if after is None:
                    break
                after = None
                continue
            outcomes = claim_send(claim)
            sealed = _otp_sealed(claim.messages)
            more = len(claim.messages) >= limit
            handled += writer.submit(token=claim.token, outcomes=outcomes, otp_sealed=sealed, more=more)
            after = claim.last_key
    finally:
        handled += writer.close()
    return handled


# ---------------------------------------------------------------------------------------------
# Reconciliation


def in_flight_reconcile(
    *, older_than: timedelta | None = None, limit: int = 500, now: datetime | None = None
) -> Counter[str]:
    """Settle messages left IN_FLIGHT (a worker died mid-batch, or the provider's answer never
    came): returns how many ended sent / queued / rejected / unknown / pending (lookup failed,
    tried again next run)."""
    now = now or timezone.now()
    cutoff = now - (stale_after() if older_than is None else older_than)
    token = _new_token()
    with transaction.atomic():
        stale = Message.objects.filter(
            Q(claimed_at__lt=cutoff) | Q(claim_token=""), status=MessageStatus.IN_FLIGHT
        ).order_by("claimed_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            stale = stale.select_for_update(skip_locked=True)
        ids = list(stale.values_list("id", flat=True)[:limit])
        if not ids:
            return Counter()
        # Taking them over: a dispatcher that wakes up late no longer holds the token.
        Message.objects.filter(pk__in=ids).update(claim_token=token, claimed_at=now, updated_at=now)
        rows = list(Message.objects.filter(pk__in=ids).values(*_CLAIMED_FIELDS))
    messages = [ClaimedMessage(**row) for row in rows]
    routes = Routes(m.account_id for m in messages)
    outcomes: dict[int, Outcome] = {}
    tally: Counter[str] = Counter()
    for message in messages:
        outcome = _reconcile_one(message, routes, now)
        outcomes[message.id] = outcome
        tally["pending" if outcome.status == MessageStatus.IN_FLIGHT else outcome.status] += 1
    _write_back(token=token, outcomes=outcomes, now=timezone.now(), otp_sealed=_otp_sealed(messages))
    if tally:
        logger.info("Reconciled in-flight messages: %s", dict(tally))
    return tally


def _reconcile_one(message: ClaimedMessage, routes: Routes, now: datetime) -> Outcome:
    if not message.provider:
        # Never assigned to a provider, so never handed to one.
        return Outcome(MessageStatus.QUEUED, due_at=now)
    provider = routes.provider(account_id=message.account_id, channel=message.channel, name=message.provider)
    if provider is None:
        return Outcome(
            MessageStatus.UNKNOWN,
            provider=message.provider,
            error_reason=f"left in flight; no route to {message.provider} any more to ask whether it took it",
        )
    try:
        provider_message_id = provider.lookup(message.outbound())
    except NotImplementedError:
        return Outcome(
            MessageStatus.UNKNOWN,
            provider=message.provider,
            error_reason=f"left in flight; {message.provider} cannot tell whether it took the message",
        )
    except ProviderError as exc:
        logger.warning("Lookup of message %s at %s failed: %s", message.public_id, message.provider, exc.reason)
        return Outcome(MessageStatus.IN_FLIGHT, provider=message.provider, error_code="lookup", error_reason=exc.reason)
    if provider_message_id:
        return Outcome(
            MessageStatus.SENT, provider=message.provider, provider_message_id=provider_message_id, event="sent"
        )
    return _retry_or_give_up(message.attempts, "left in flight and not taken by the provider", "in_flight", now)
