"""The single event-recording service: every provider webhook, the simulator, the dispatcher
(sent / rejected / expired) and the tracking pages record what happened to messages here.

Rules, per batch of events:
- an event finds its message by our public id, else by (provider, provider's message id), else
  (inbound replies such as an SMS "STOP", which carry no id of ours) by the latest message of
  that channel to `extra["recipient"]`; events that find none are logged and dropped;
- a report that arrives twice is stored once: (provider, provider_event_id) is unique; repeats
  within the batch are dropped first, and the INSERT itself skips those already stored (ON
  CONFLICT DO NOTHING on PostgreSQL), so only newly stored events move statuses and counters;
- a message's status only moves forward (STATUS_RANK): a late `sent` never overwrites
  `delivered`. Between two final outcomes the first one recorded stays; the later one is kept as
  an Event for the record but not counted, so counters never add up to more than the messages;
- the sending's counters are incremented once per sending per batch with F() expressions, with
  `opened_unique` / `clicked_unique` counting a message's first open / click only;
- hard bounces, complaints and unsubscribes (STOP replies and landing pages included) put the
  recipient on the blacklist of the message's channel (sms and landing -> sms, mailing -> mailing, voice -> voice);
- the stored events go to the event-notification service once the transaction commits.

The affected messages are locked (in id order, so concurrent batches cannot deadlock) for the
length of the batch, which serialises two processors working on the same message.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account
from campaigns.models import EVENT_COUNTERS, Channel, Sending
from contacts.models import BlacklistType
from messaging.bulk_sql import pg_execute, pg_insert_rows, pg_update_rows
from messaging.models import STATUS_RANK, Event, EventType, Message, MessageStatus
from messaging.providers.base import DeliveryEvent

logger = logging.getLogger(__name__)

# Events that say where a message is; the others (opened, clicked, ...) leave its status alone.
STATUS_OF_EVENT: dict[str, str] = {
    EventType.SENT: MessageStatus.SENT,
    EventType.DELIVERED: MessageStatus.DELIVERED,
    EventType.UNDELIVERED: MessageStatus.UNDELIVERED,
    EventType.HARD_BOUNCED: MessageStatus.HARD_BOUNCED,
    EventType.SOFT_BOUNCED: MessageStatus.SOFT_BOUNCED,
    EventType.REJECTED: MessageStatus.REJECTED,
    EventType.EXPIRED: MessageStatus.EXPIRED,
}
FINAL_RANK = STATUS_RANK[MessageStatus.DELIVERED]
FAILURE_EVENTS = frozenset(
    {EventType.UNDELIVERED, EventType.HARD_BOUNCED, EventType.SOFT_BOUNCED, EventType.REJECTED, EventType.EXPIRED}
)
BLACKLISTING_EVENTS = frozenset(
    {EventType.HARD_BOUNCED, EventType.COMPLAINT, EventType.UNSUBSCRIBED, EventType.UNSUBSCRIBED_LANDING}
)
BLACKLIST_TYPE_OF_CHANNEL: dict[str, str] = {
    Channel.SMS: BlacklistType.SMS,
    Channel.LANDING: BlacklistType.SMS,
    Channel.MAILING: BlacklistType.MAILING,
    Channel.TEXT2SPEECH: BlacklistType.VOICE,
    Channel.VOICE_INTERACTIVE: BlacklistType.VOICE,
}
UNIQUE_COUNTERS = {EventType.OPENED: "opened_unique", EventType.CLICKED: "clicked_unique"}
_MESSAGE_FIELDS = (
    "id", "public_id", "account_id", "sending_id", "channel", "recipient", "status",
    "provider", "provider_message_id", "error_reason", "final_at",
)  # fmt: skip


@dataclass(slots=True)
class MessageRow:
    """The few columns of a message that recording events reads and changes (a model instance
    costs more to build than the rest of the work per event)."""

    id: int
    public_id: str
    account_id: int
    sending_id: int
    channel: str
    recipient: str
    status: str
    provider: str
    provider_message_id: str
    error_reason: str
    final_at: datetime | None

    @property
    def pk(self) -> int:
        return self.id


def events_record(*, events: Sequence[DeliveryEvent]) -> list[Event]:
    """Store `events` (see the module docstring for the rules); returns the Event rows created,
    leaving out duplicates and events whose message is unknown."""
    if not events:
        return []
    with transaction.atomic():
        messages = _messages_lock(events)
        pairs = _pairs_found(events, messages)
        if not pairs:
            return []
        now = timezone.now()
        rows = [_event_row(event, message) for event, message in pairs]
        # Read before this batch's own opens and clicks are stored.
        opened_or_clicked = _messages_with_prior(pairs)
        stored = _events_insert_new(rows, now=now)
        new_pairs = [pair for pair, row in zip(pairs, rows, strict=True) if row.pk is not None]
        if new_pairs:
            _apply(new_pairs, already_unique=opened_or_clicked, now=now)
            _notify(stored)
    return stored


# ---------------------------------------------------------------------------------------------
# Finding the messages


class _Messages:
    def __init__(self, rows: list[MessageRow], by_reply: dict[int, MessageRow]):
        self.by_public_id = {m.public_id: m for m in rows}
        self.by_provider_id = {(m.provider, m.provider_message_id): m for m in rows if m.provider_message_id}
        self.by_reply = by_reply

    def find(self, index: int, event: DeliveryEvent) -> MessageRow | None:
        if event.message_public_id:
            return self.by_public_id.get(event.message_public_id)
        if event.provider_message_id:
            return self.by_provider_id.get((event.provider, event.provider_message_id))
        return self.by_reply.get(index)


def _messages_lock(events: Sequence[DeliveryEvent]) -> _Messages:
    public_ids = {e.message_public_id for e in events if e.message_public_id}
    provider_ids: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if not event.message_public_id and event.provider_message_id:
            provider_ids[event.provider].add(event.provider_message_id)
    reply_ids = _reply_messages(events)
    if connection.vendor == "postgresql":
        rows = _messages_lock_postgresql(public_ids, provider_ids, set(reply_ids.values()))
    else:
        condition = Q(pk__in=set(reply_ids.values()))
        if public_ids:
            condition |= Q(public_id__in=public_ids)
        for provider, ids in provider_ids.items():
            condition |= Q(provider=provider, provider_message_id__in=ids)
        locked = Message.objects.select_for_update().filter(condition).order_by("id").values_list(*_MESSAGE_FIELDS)
        rows = [MessageRow(*values) for values in locked]
    by_pk = {m.pk: m for m in rows}
    return _Messages(rows, {index: by_pk[pk] for index, pk in reply_ids.items() if pk in by_pk})


def _messages_lock_postgresql(
    public_ids: set[str], provider_ids: dict[str, set[str]], pks: set[int]
) -> list[MessageRow]:
    # Arrays (= ANY) rather than IN lists: one bound parameter per kind of key, not per message.
    conditions, params = ["id = ANY(%s)"], [list(pks)]
    if public_ids:
        conditions.append("public_id = ANY(%s)")
        params.append(list(public_ids))
    for provider, ids in provider_ids.items():
        conditions.append("(provider = %s AND provider_message_id = ANY(%s))")
        params.extend([provider, list(ids)])
    sql = (
        f"SELECT {', '.join(_MESSAGE_FIELDS)} FROM {Message._meta.db_table} "  # noqa: S608
        f"WHERE {' OR '.join(conditions)} ORDER BY id FOR UPDATE"
    )
    return [MessageRow(*values) for values in pg_execute(sql, params)]


def _reply_messages(events: Sequence[DeliveryEvent]) -> dict[int, int]:
    """Inbound replies (an SMS "STOP") name no message of ours, only the number that replied:
    they belong to the latest message sent to that number on that channel through that provider."""
    found: dict[int, int] = {}
    for index, event in enumerate(events):
        recipient = str(event.extra.get("recipient") or "")
        if event.message_public_id or event.provider_message_id or not recipient:
            continue
        channels = [Channel.SMS, Channel.LANDING] if event.extra.get("channel", "sms") == "sms" else [Channel.MAILING]
        candidates = Message.objects.filter(recipient=recipient, channel__in=channels)
        if event.provider:
            candidates = candidates.filter(provider=event.provider)
        pk = candidates.order_by("-id").values_list("pk", flat=True).first()
        if pk is not None:
            found[index] = pk
    return found


def _pairs_found(events: Sequence[DeliveryEvent], messages: _Messages) -> list[tuple[DeliveryEvent, MessageRow]]:
    """(event, message) for the events that find their message, a report repeated within the
    batch once, in the order they happened."""
    seen: set[tuple[str, str]] = set()
    pairs = []
    for index, event in enumerate(events):
        message = messages.find(index, event)
        if message is None:
            logger.warning(
                "Dropped %s event for an unknown message (provider=%s, provider message id=%s, public id=%s)",
                event.type, event.provider, event.provider_message_id, event.message_public_id,
            )  # fmt: skip
            continue
        if event.provider_event_id:
            key = (event.provider, event.provider_event_id)
            if key in seen:
                continue
            seen.add(key)
        pairs.append((event, message))
    pairs.sort(key=lambda pair: pair[0].occurred_at)
    return pairs


# ---------------------------------------------------------------------------------------------
# Applying them


def _apply(
    pairs: list[tuple[DeliveryEvent, MessageRow]], *, already_unique: set[tuple[int, str]], now: datetime
) -> None:
    """Statuses, counters and blacklist for newly stored events."""
    counters: dict[int, Counter[str]] = defaultdict(Counter)
    changed: dict[int, MessageRow] = {}
    blacklisting: list[MessageRow] = []
    for event, message in pairs:
        counted = _status_advance(event, message, changed)
        counter = counters[message.sending_id]
        if counted and event.type in EVENT_COUNTERS:
            counter[event.type] += 1
        unique = UNIQUE_COUNTERS.get(event.type)
        if unique and (message.pk, event.type) not in already_unique:
            already_unique.add((message.pk, event.type))
            counter[unique] += 1
        if event.type in BLACKLISTING_EVENTS:
            blacklisting.append(message)

    if changed:
        _statuses_write(list(changed.values()), now=now)
    for sending_id in sorted(counters):
        increments = {name: F(name) + n for name, n in counters[sending_id].items() if n}
        if increments:
            Sending.objects.filter(pk=sending_id).update(**increments, updated_at=now)
    _blacklist(blacklisting)


_STATUS_TYPES = {
    "id": "bigint",
    "status": "varchar",
    "final_at": "timestamptz",
    "error_reason": "text",
    "updated_at": "timestamptz",
}


def _statuses_write(messages: list[MessageRow], *, now: datetime) -> None:
    """One set-based UPDATE of the messages whose status moved. Not Django's bulk_update on
    PostgreSQL: its CASE WHEN id = ... per row makes a batch of thousands quadratic."""
    if connection.vendor == "postgresql":
        rows = [
            {"id": m.id, "status": m.status, "final_at": m.final_at, "error_reason": m.error_reason, "updated_at": now}
            for m in messages
        ]
        pg_update_rows(Message._meta.db_table, _STATUS_TYPES, rows)
        return
    Message.objects.bulk_update(
        [
            Message(pk=m.id, status=m.status, final_at=m.final_at, error_reason=m.error_reason, updated_at=now)
            for m in messages
        ],
        ["status", "final_at", "error_reason", "updated_at"],
        batch_size=500,
    )


_EVENT_TYPES = {
    "account_id": "bigint",
    "message_id": "bigint",
    "sending_id": "bigint",
    "type": "varchar",
    "date": "timestamptz",
    "extra": "jsonb",
    "browser": "varchar",
    "os": "varchar",
    "is_mobile": "boolean",
    "url": "varchar",
    "provider": "varchar",
    "provider_event_id": "varchar",
    "created_at": "timestamptz",
}


def _events_insert_new(rows: list[Event], *, now: datetime) -> list[Event]:
    """Insert the events not recorded before and return them (with their pk); a duplicate keeps
    pk None. On PostgreSQL the unique (provider, provider_event_id) decides, in the INSERT itself
    (ON CONFLICT DO NOTHING), so a concurrent batch with the same report cannot fail this one."""
    for row in rows:
        row.created_at = now
    if connection.vendor != "postgresql":
        return _events_insert_portable(rows)
    values = [{name: getattr(row, name) for name in _EVENT_TYPES} for row in rows]
    inserted = pg_insert_rows(
        Event._meta.db_table,
        _EVENT_TYPES,
        values,
        on_conflict="ON CONFLICT (provider, provider_event_id) DO NOTHING",
        returning=("id", "provider", "provider_event_id"),
    )
    keyed = {(provider, key): pk for pk, provider, key in inserted if key is not None}
    # Events without a provider event id never conflict; they come back in insertion order.
    unkeyed = iter(pk for pk, _provider, key in inserted if key is None)
    stored = []
    for row in rows:
        row.pk = keyed.get((row.provider, row.provider_event_id)) if row.provider_event_id else next(unkeyed)
        if row.pk is not None:
            row._state.adding = False
            stored.append(row)
    return stored


def _events_insert_portable(rows: list[Event]) -> list[Event]:
    keyed: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.provider_event_id:
            keyed[row.provider].add(row.provider_event_id)
    seen: set[tuple[str, str]] = set()
    for provider, ids in keyed.items():
        existing = Event.objects.filter(provider=provider, provider_event_id__in=ids)
        seen.update(existing.values_list("provider", "provider_event_id"))
    new = [row for row in rows if not row.provider_event_id or (row.provider, row.provider_event_id) not in seen]
    Event.objects.bulk_create(new)
    return new


def _status_advance(event: DeliveryEvent, message: MessageRow, changed: dict[int, MessageRow]) -> bool:
    """Move the message's status forward if this event does; False when the event reports a
    final outcome that contradicts one already recorded (stored, not counted)."""
    target = STATUS_OF_EVENT.get(event.type)
    if target is None:
        return True
    current_rank, target_rank = STATUS_RANK[message.status], STATUS_RANK[target]
    if target_rank > current_rank:
        message.status = target
        if target_rank >= FINAL_RANK:
            message.final_at = event.occurred_at
        if event.type in FAILURE_EVENTS and event.reason:
            message.error_reason = event.reason
        changed[message.pk] = message
        return True
    return event.type == EventType.SENT or current_rank < FINAL_RANK or message.status == target


def _messages_with_prior(pairs: list[tuple[DeliveryEvent, MessageRow]]) -> set[tuple[int, str]]:
    """(message id, type) of messages already opened / clicked before this batch."""
    ids = {message.pk for event, message in pairs if event.type in UNIQUE_COUNTERS}
    if not ids:
        return set()
    prior = Event.objects.filter(message_id__in=ids, type__in=list(UNIQUE_COUNTERS)).values_list("message_id", "type")
    return set(prior.distinct())


def _event_row(event: DeliveryEvent, message: MessageRow) -> Event:
    extra = dict(event.extra)
    if event.reason:
        extra.setdefault("reason", event.reason)
    browser, os_name, is_mobile = user_agent_parse(event.user_agent)
    return Event(
        account_id=message.account_id,
        message_id=message.pk,
        sending_id=message.sending_id,
        type=event.type,
        date=event.occurred_at,
        extra=extra,
        browser=browser,
        os=os_name,
        is_mobile=is_mobile,
        url=event.url[:2000],
        provider=event.provider,
        provider_event_id=event.provider_event_id or None,
    )


def _blacklist(messages: list[MessageRow]) -> None:
    if not messages:
        return
    try:
        from contacts.services import blacklist_add
    except ImportError:  # pragma: no cover - contacts.services is being written alongside
        logger.error("contacts.services.blacklist_add is missing: %d recipients not blacklisted", len(messages))
        return
    accounts = Account.objects.in_bulk({m.account_id for m in messages})
    sendings = Sending.objects.in_bulk({m.sending_id for m in messages})
    for message in messages:
        blacklist_type = BLACKLIST_TYPE_OF_CHANNEL.get(message.channel)
        if blacklist_type is None:
            continue
        try:
            blacklist_add(
                account=accounts[message.account_id],
                type=blacklist_type,
                recipient=message.recipient,
                sending=sendings.get(message.sending_id),
            )
        except ValidationError:
            logger.warning("Could not blacklist the recipient of message %s", message.public_id)


def _notify(created: list[Event]) -> None:
    try:
        from messaging.notifications import notifications_enqueue
    except ImportError:
        logger.debug("messaging.notifications is not there yet: no event notifications")
        return
    if created:
        transaction.on_commit(partial(notifications_enqueue, events=created))


# ---------------------------------------------------------------------------------------------
# User agents (opened / clicked events)

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("Windows", "Windows"), ("iPhone", "iOS"), ("iPad", "iOS"), ("Android", "Android"),
    ("Mac OS X", "Mac OS X"), ("Linux", "Linux"),
)  # fmt: skip


def user_agent_parse(user_agent: str) -> tuple[str, str, bool]:
    """(browser, os, is_mobile) from a User-Agent header; empty strings when unknown. Coarse on
    purpose: the events report needs a family name, not a version matrix."""
    if not user_agent:
        return "", "", False
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    if not browser and ("iPhone" in user_agent or "iPad" in user_agent):
        browser = "Mobile Safari"
    os_name = next((name for token, name in _SYSTEMS if token in user_agent), "")
    return browser, os_name, "Mobi" in user_agent or "Android" in user_agent
