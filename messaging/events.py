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
- the stored events whose message has a notificationUrl or whose account has an event URL go to
  the event-notification service once the transaction commits (the URLs are read with the
  messages, so a batch nobody listens to costs no notification work at all).

The affected messages are locked (in id order, so concurrent batches cannot deadlock) for the
length of the batch, which serialises two processors working on the same message; the sending's
counters are updated last, so two batches of one sending wait for each other only briefly.

`events_record` returns the stored events as model instances; `events_store` (the webhook
backlog's path, thousands of events per call) does the same work without building them. On
PostgreSQL every write is one statement per batch with its columns bound as arrays (or as one
value when the whole batch shares it): the messages' lock, the Event INSERT ... ON CONFLICT DO
NOTHING, the status UPDATE ... FROM unnest and one counter UPDATE per sending.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account
from campaigns.models import EVENT_COUNTERS, Sending
from campaigns.sending.channels import BLACKLIST_TYPE_OF_CHANNEL, reply_channels
from messaging.bulk_sql import pg_execute
from messaging.models import STATUS_RANK, Event, EventType, Message, MessageStatus
from messaging.notifications import EventNotice, notifications_create
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
# Hard bounces and complaints make a definitive entry (docs/architecture.md); unsubscribes a temporary one.
DEFINITIVE_BLACKLISTING_EVENTS = frozenset({EventType.HARD_BOUNCED, EventType.COMPLAINT})
UNIQUE_COUNTERS = {EventType.OPENED: "opened_unique", EventType.CLICKED: "clicked_unique"}
_MESSAGE_FIELDS = (
    "id", "public_id", "account_id", "sending_id", "channel", "recipient", "status",
    "provider", "provider_message_id", "error_reason", "final_at", "notification_url",
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
    notification_url: str

    @property
    def pk(self) -> int:
        return self.id


# An Event row as inserted: every concrete field but id and created_at, in the model's field order
# (so a stored row plus its id and created_at is exactly what Event.from_db takes).
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
}
_EVENT_COLUMNS = tuple(_EVENT_TYPES)
_EVENT_FIELD_NAMES = ("id", *_EVENT_COLUMNS, "created_at")
_PROVIDER, _PROVIDER_EVENT_ID = _EVENT_COLUMNS.index("provider"), _EVENT_COLUMNS.index("provider_event_id")
EventRow = tuple[Any, ...]


@dataclass(slots=True)
class _Stored:
    """What one batch stored: its event rows (only the new ones keep an id)."""

    rows: list[EventRow]
    ids: list[int | None]
    created_at: datetime | None = None

    def instances(self) -> list[Event]:
        """The stored events as model instances, built only for the callers that want them."""
        return [
            Event.from_db(DEFAULT_DB_ALIAS, _EVENT_FIELD_NAMES, (pk, *row, self.created_at))
            for row, pk in zip(self.rows, self.ids, strict=True)
            if pk is not None
        ]


def events_record(*, events: Sequence[DeliveryEvent]) -> list[Event]:
    """Store `events` (see the module docstring for the rules); returns the Event rows created,
    leaving out duplicates and events whose message is unknown."""
    return events_store(events=events).instances()


def events_store(*, events: Sequence[DeliveryEvent]) -> _Stored:
    """events_record without building model instances (the webhook backlog's path: thousands of
    events per call, of which nobody reads the instances)."""
    if not events:
        return _Stored([], [])
    with transaction.atomic():
        messages = _messages_lock(events)
        pairs = _pairs_found(events, messages)
        if not pairs:
            return _Stored([], [])
        now = timezone.now()
        rows = [_event_row(event, message) for event, message in pairs]
        # Read before this batch's own opens and clicks are stored.
        opened_or_clicked = _messages_with_prior(pairs)
        ids = _events_insert_new(rows, now=now)
        stored = [(event, message, pk) for (event, message), pk in zip(pairs, ids, strict=True) if pk is not None]
        if stored:
            _apply(stored, already_unique=opened_or_clicked, now=now)
    return _Stored(rows, ids, now)


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
            condition |= Q(provider=provider, provider_message_id__in=ids) & ~Q(provider_message_id="")
        locked = Message.objects.select_for_update().filter(condition).order_by("id").values_list(*_MESSAGE_FIELDS)
        rows = [MessageRow(*values) for values in locked]
    by_pk = {m.pk: m for m in rows}
    return _Messages(rows, {index: by_pk[pk] for index, pk in reply_ids.items() if pk in by_pk})


def _messages_lock_postgresql(
    public_ids: set[str], provider_ids: dict[str, set[str]], pks: set[int]
) -> list[MessageRow]:
    # Arrays (= ANY) rather than IN lists: one bound parameter per kind of key, not per message,
    # sent in binary (%b: no quoting of each element in Python).
    conditions, params = ["id = ANY(%b::bigint[])"], [list(pks)]
    if public_ids:
        conditions.append("public_id = ANY(%b::varchar[])")
        params.append(list(public_ids))
    for provider, ids in provider_ids.items():
        # `<> ''` lets PostgreSQL use the partial index message_provider_id for any number of ids.
        conditions.append("(provider = %s AND provider_message_id = ANY(%b::varchar[]) AND provider_message_id <> '')")
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
        if event.message_public_id or event.provider_message_id:
            continue
        recipient = str(event.extra.get("recipient") or "")
        if not recipient:
            continue
        channels = reply_channels(str(event.extra.get("channel", "sms")))
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
    stored: list[tuple[DeliveryEvent, MessageRow, int]], *, already_unique: set[tuple[int, str]], now: datetime
) -> None:
    """Statuses, blacklist, notifications and counters for newly stored events."""
    counters: dict[int, Counter[str]] = defaultdict(Counter)
    changed: dict[int, MessageRow] = {}
    blacklisting: list[tuple[MessageRow, str]] = []
    for event, message, _pk in stored:
        counted = _status_advance(event, message, changed)
        counter = counters[message.sending_id]
        if counted and event.type in EVENT_COUNTERS:
            counter[event.type] += 1
        unique = UNIQUE_COUNTERS.get(event.type)
        if unique and (message.pk, event.type) not in already_unique:
            already_unique.add((message.pk, event.type))
            counter[unique] += 1
        if event.type in BLACKLISTING_EVENTS:
            blacklisting.append((message, event.type))

    if changed:
        _statuses_write(list(changed.values()), now=now)
    _blacklist(blacklisting)
    _notify(stored)
    # Last: a sending's row is what concurrent batches of the same sending wait for, so it is
    # locked for as short a time as possible (until the commit).
    for sending_id in sorted(counters):
        increments = {name: F(name) + n for name, n in counters[sending_id].items() if n}
        if increments:
            Sending.objects.filter(pk=sending_id).update(**increments, updated_at=now)


def _statuses_write(messages: list[MessageRow], *, now: datetime) -> None:
    """One set-based UPDATE of the messages whose status moved. Not Django's bulk_update on
    PostgreSQL: its CASE WHEN id = ... per row makes a batch of thousands quadratic."""
    if connection.vendor == "postgresql":
        columns = {
            "id": [m.id for m in messages],
            "status": [m.status for m in messages],
            "final_at": [m.final_at for m in messages],
            "error_reason": [m.error_reason for m in messages],
        }
        expressions, unnest, constants, arrays = _bind_columns(_STATUS_TYPES, columns, key="id")
        assignments = ", ".join(f"{name} = {expressions[name]}" for name in columns if name != "id")
        pg_execute(
            f"UPDATE {Message._meta.db_table} AS t SET {assignments}, updated_at = %s "  # noqa: S608
            f"FROM {unnest} WHERE t.id = v.id",
            [*constants, now, *arrays],
        )
        return
    Message.objects.bulk_update(
        [
            Message(pk=m.id, status=m.status, final_at=m.final_at, error_reason=m.error_reason, updated_at=now)
            for m in messages
        ],
        ["status", "final_at", "error_reason", "updated_at"],
        batch_size=500,
    )


_STATUS_TYPES = {"id": "bigint", "status": "varchar", "final_at": "timestamptz", "error_reason": "text"}


def _events_insert_new(rows: list[EventRow], *, now: datetime) -> list[int | None]:
    """Insert the events not recorded before; returns each row's new id, None for a duplicate.
    On PostgreSQL the unique (provider, provider_event_id) decides, in the INSERT itself (ON
    CONFLICT DO NOTHING), so a concurrent batch with the same report cannot fail this one."""
    if connection.vendor != "postgresql":
        return _events_insert_portable(rows, now=now)
    columns = dict(zip(_EVENT_COLUMNS, map(list, zip(*rows, strict=True)), strict=True))
    columns["extra"] = [json.dumps(extra) if extra else "{}" for extra in columns["extra"]]
    expressions, unnest, constants, arrays = _bind_columns(_EVENT_TYPES, columns, ordinality=True)
    inserted = pg_execute(
        f"INSERT INTO {Event._meta.db_table} ({', '.join(_EVENT_COLUMNS)}, created_at) "  # noqa: S608
        f"SELECT {', '.join(expressions[name] for name in _EVENT_COLUMNS)}, %s FROM {unnest} ORDER BY v.n "
        "ON CONFLICT (provider, provider_event_id) DO NOTHING RETURNING id, provider, provider_event_id",
        [*constants, now, *arrays],
    )
    keyed = {(provider, key): pk for pk, provider, key in inserted if key is not None}
    # Events without a provider event id never conflict; they come back in insertion order.
    unkeyed = iter(pk for pk, _provider, key in inserted if key is None)
    return [
        keyed.get((row[_PROVIDER], row[_PROVIDER_EVENT_ID])) if row[_PROVIDER_EVENT_ID] is not None else next(unkeyed)
        for row in rows
    ]


def _bind_columns(
    types: dict[str, str], columns: dict[str, list[Any]], *, key: str = "", ordinality: bool = False
) -> tuple[dict[str, str], str, list[Any], list[Any]]:
    """How a batch's columns are bound: a column with the same value in every row (a batch's
    type, provider, account, date...) as one scalar parameter, the others as arrays read by one
    unnest (`key`, if given, always). Returns each column's SQL expression, the `unnest(...) AS v`
    clause and the scalar and array parameters, in the order they appear in the SQL.

    Arrays go in binary (%b): the text format quotes and escapes every element in Python."""
    expressions: dict[str, str] = {}
    constants: list[Any] = []
    arrays: list[Any] = []
    varying: list[str] = []
    for name, values in columns.items():
        kind = types[name]
        if name != key and values.count(values[0]) == len(values):
            expressions[name] = f"%s::{kind}"
            constants.append(values[0])
        else:
            expressions[name] = f"v.{name}::{kind}"
            varying.append(name)
            arrays.append(values)
    if not varying:  # every column constant (one row): unnest still needs an array to count rows
        name = next(iter(columns))
        expressions[name] = f"v.{name}::{types[name]}"
        varying.append(name)
        arrays.append(columns[name])
        constants.pop(0)
    # JSON travels as text and is cast per row.
    casts = ", ".join(f"%b::{'text' if types[name] == 'jsonb' else types[name]}[]" for name in varying)
    aliases = ", ".join([*varying, "n"] if ordinality else varying)
    unnest = f"unnest({casts}) {'WITH ORDINALITY ' if ordinality else ''}AS v({aliases})"
    return expressions, unnest, constants, arrays


def _events_insert_portable(rows: list[EventRow], *, now: datetime) -> list[int | None]:
    keyed: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row[_PROVIDER_EVENT_ID] is not None:
            keyed[row[_PROVIDER]].add(row[_PROVIDER_EVENT_ID])
    seen: set[tuple[str, str]] = set()
    for provider, ids in keyed.items():
        existing = Event.objects.filter(provider=provider, provider_event_id__in=ids)
        seen.update(existing.values_list("provider", "provider_event_id"))
    new = {
        index: Event(**dict(zip(_EVENT_COLUMNS, row, strict=True)), created_at=now)
        for index, row in enumerate(rows)
        if row[_PROVIDER_EVENT_ID] is None or (row[_PROVIDER], row[_PROVIDER_EVENT_ID]) not in seen
    }
    Event.objects.bulk_create(new.values())
    return [new[index].pk if index in new else None for index in range(len(rows))]


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


def _event_row(event: DeliveryEvent, message: MessageRow) -> EventRow:
    extra = dict(event.extra) if event.extra else {}
    if event.reason:
        extra.setdefault("reason", event.reason)
    browser, os_name, is_mobile = user_agent_parse(event.user_agent)
    return (
        message.account_id,
        message.id,
        message.sending_id,
        event.type,
        event.occurred_at,
        extra,
        browser,
        os_name,
        is_mobile,
        event.url[:2000],
        event.provider,
        event.provider_event_id or None,
    )


def _blacklist(messages: list[tuple[MessageRow, str]]) -> None:
    if not messages:
        return
    from contacts.services import blacklist_add

    accounts = Account.objects.in_bulk({m.account_id for m, _type in messages})
    sendings = Sending.objects.in_bulk({m.sending_id for m, _type in messages})
    for message, event_type in messages:
        blacklist_type = BLACKLIST_TYPE_OF_CHANNEL.get(message.channel)
        if blacklist_type is None:
            continue
        try:
            blacklist_add(
                account=accounts[message.account_id],
                type=blacklist_type,
                recipient=message.recipient,
                sending=sendings.get(message.sending_id),
                is_definitive=event_type in DEFINITIVE_BLACKLISTING_EVENTS,
            )
        except ValidationError:
            logger.warning("Could not blacklist the recipient of message %s", message.public_id)


def _notify(stored: list[tuple[DeliveryEvent, MessageRow, int]]) -> None:
    """Hand the new events that someone wants to hear about to the notification service once the
    transaction commits. Which URL gets which event is decided there; here only events with no URL
    at all (the common case) are left out, without a query per event."""
    account_ids = {message.account_id for _event, message, _pk in stored}
    account_urls = dict(
        Account.objects.filter(pk__in=account_ids)
        .exclude(event_notification_url="")
        .values_list("pk", "event_notification_url")
    )
    notices = [
        EventNotice(
            event_id=pk,
            account_id=message.account_id,
            event_type=event.type,
            message_url=message.notification_url,
            account_url=account_urls.get(message.account_id, ""),
        )
        for event, message, pk in stored
        if message.notification_url or message.account_id in account_urls
    ]
    if notices:
        transaction.on_commit(partial(notifications_create, notices=notices))


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
