"""When a message may go: scheduleDate, expirationDate and availableTimes windows.

availableTimes (spec, Send SMS): `[{"day": 1, "from": "09:00", "to": "21:00"}]`, stored on the
sending as `Sending.options["available_times"]` in that same form.
- `day` is 1..7 for Monday..Sunday (ISO weekday; the spec: "a day of the range between Monday to
  Sunday ... a number between 1 and 7"); without it the window applies to every day.
- `from` and `to` are "HH:MM", UTC, 24-hour; a window covers [from, to). `to` may be "24:00".
  A request's `from` must be earlier than its `to` (188): a night is two windows (22:00-24:00 on
  day 5 and 00:00-06:00 on day 6). Sendings stored before that rule may hold a `to` earlier than
  `from`; the release reads those as overnight windows ending the next day.
- Refusals carry the spec's Errors-table codes (`AvailableTimesError.code`): 183 not an array (or an
  item that is not a window object), 184 a day that is not an integer, 185 a day outside 1..7, 186 /
  187 a `from` / `to` not in HH:MM, 188 `from` after `to`, 189 a window without `from` or `to`, 194
  an empty `availableTimes` ([] or ""), 196 an empty window (`from` equal to `to`: the shortest
  window accepted is one minute). `null` means "not sent". At most `MAX_WINDOWS` windows (422), so a
  request cannot make every release walk thousands of windows.
- A message outside every window waits (SCHEDULED) for the start of the next one. Windows gate
  the release only: a message released inside a window is sent even if a backlog carries its
  dispatch a little past the window's end; a retry after a transient failure ignores windows.

A message is created SCHEDULED (with `due_at` from `message_initial_state`) when it has a future
scheduleDate or a window that is not open; the periodic `scheduled_release` then moves due ones
to QUEUED, re-defers those whose window is closed, and expires those past their expiry (status
EXPIRED + an `expired` event). Messages of paused or cancelled sendings are not released.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, Value
from django.db.models.functions import Least
from django.utils import timezone

from campaigns.models import Sending
from messaging.dispatch import HELD_SENDING_STATUSES, sendings_progress
from messaging.events import events_record
from messaging.models import EventType, Message, MessageStatus
from messaging.providers.base import DeliveryEvent

AVAILABLE_TIMES_KEY = "available_times"
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_DAY = timedelta(days=1)
MAX_WINDOWS = 100
# The Errors-table codes an availableTimes refusal carries (AvailableTimesError.code).
AVAILABLE_TIMES_CODES = frozenset({183, 184, 185, 186, 187, 188, 189, 194, 196})


@dataclass(frozen=True)
class Window:
    day: int | None  # ISO weekday 1 (Monday) .. 7 (Sunday); None: every day
    start: timedelta  # from midnight
    end: timedelta  # from midnight of the same day; past 24 h for overnight windows

    def span_on(self, date: datetime) -> tuple[datetime, datetime] | None:
        """The window's [start, end) starting on `date` (a UTC midnight), if it applies that day."""
        if self.day is not None and date.isoweekday() != self.day:
            return None
        return date + self.start, date + self.end


class AvailableTimesError(ValueError):
    """A refused availableTimes value: `code` is the spec's Errors-table code, the message says what is wrong."""

    def __init__(self, code: int, message: str):
        self.code = code
        super().__init__(message)


def available_times_validate(raw: Any, *, field: str = "availableTimes") -> list[Window]:
    """The windows of a new request's availableTimes, with the request rules on top of what
    `available_times_parse` checks: not empty (194), each `from` before its `to` (188)."""
    if isinstance(raw, list | str) and not raw:
        raise AvailableTimesError(194, f"The {field} is given but empty: leave it out to send at any time.")
    return _windows(raw, field=field, overnight=False)


def available_times_parse(raw: Any, *, field: str = "availableTimes") -> list[Window]:
    """Windows from a stored availableTimes value (AvailableTimesError otherwise); an empty list or
    None means "any time", and a `to` earlier than `from` is an overnight window (see the module
    docstring)."""
    if raw is None or (isinstance(raw, list) and not raw):
        return []
    return _windows(raw, field=field, overnight=True)


def _windows(raw: Any, *, field: str, overnight: bool) -> list[Window]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AvailableTimesError(183, f"The {field} must be an array.")
    if len(raw) > MAX_WINDOWS:
        raise AvailableTimesError(422, f"The {field} may not have more than {MAX_WINDOWS} items.")
    windows = []
    for index, item in enumerate(raw):
        name = f"{field}.{index}"
        if not isinstance(item, dict):
            raise AvailableTimesError(183, f"The {name} must be an object.")
        day = item.get("day")
        if day is not None:
            if isinstance(day, bool) or not isinstance(day, int | str) or not str(day).isdigit():
                raise AvailableTimesError(184, f"The {name}.day must be an integer.")
            day = int(day)
            if not 1 <= day <= 7:
                raise AvailableTimesError(185, f"The {name}.day must be between 1 and 7.")
        start = _clock(item.get("from"), f"{name}.from", code=186)
        end = _clock(item.get("to"), f"{name}.to", code=187)
        if start == _DAY:
            raise AvailableTimesError(186, f"The {name}.from must be a time between 00:00 and 23:59.")
        if start == end:
            raise AvailableTimesError(196, f"The {name}.to must be different from {name}.from.")
        if end < start and not overnight:
            raise AvailableTimesError(
                188,
                f"The {name}.from ({item['from']}) must be earlier than {name}.to ({item['to']}); "
                "split a window that crosses midnight in two.",
            )
        windows.append(Window(day=day, start=start, end=end if end > start else end + _DAY))
    return windows


def _clock(raw: Any, name: str, *, code: int) -> timedelta:
    if raw is None:
        raise AvailableTimesError(189, f"The {name} field is required.")
    if not isinstance(raw, str) or not _TIME.match(raw):
        raise AvailableTimesError(code, f"The {name} must be a time in HH:MM format.")
    hours, minutes = raw.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def _midnight(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def window_next_start(windows: Iterable[Window], moment: datetime) -> datetime:
    """`moment` itself when a window is open then, else the start of the next window."""
    windows = list(windows)
    if not windows:
        return moment
    today = _midnight(moment)
    starts = []
    # Yesterday's overnight windows may still be open; a weekly window starts within 7 days.
    for offset in range(-1, 8):
        for window in windows:
            span = window.span_on(today + offset * _DAY)
            if span is None:
                continue
            start, end = span
            if start <= moment < end:
                return moment
            if start > moment:
                starts.append(start)
    return min(starts)


def window_is_open(windows: Iterable[Window], moment: datetime) -> bool:
    return window_next_start(windows, moment) == moment


def message_initial_state(
    *,
    now: datetime,
    scheduled_at: datetime | None = None,
    expires_at: datetime | None = None,
    available_times: Any = None,
) -> tuple[str, datetime]:
    """(status, due_at) for a new message: QUEUED now, or SCHEDULED until its scheduleDate and
    then the next open window (not later than its expiry, so it is expired on time)."""
    due_at = max(now, scheduled_at) if scheduled_at else now
    due_at = window_next_start(available_times_parse(available_times), due_at)
    if expires_at is not None and due_at > expires_at:
        due_at = max(now, expires_at)
    return (MessageStatus.QUEUED if due_at <= now else MessageStatus.SCHEDULED), due_at


# ---------------------------------------------------------------------------------------------
# The periodic release


def scheduled_release(
    *,
    now: datetime | None = None,
    sending_id: int | None = None,
    limit: int = 5000,
    budget_seconds: float = 30.0,
) -> Counter[str]:
    """Release due SCHEDULED messages in batches: returns how many were queued, deferred to a
    window and expired."""
    now = now or timezone.now()
    deadline = time.monotonic() + budget_seconds
    tally: Counter[str] = Counter()
    while time.monotonic() < deadline:
        done = _release_batch(now=now, sending_id=sending_id, limit=limit)
        tally.update(done)
        if sum(done.values()) < limit:
            break
    return tally


def _release_batch(*, now: datetime, sending_id: int | None, limit: int) -> Counter[str]:
    tally: Counter[str] = Counter()
    with transaction.atomic():
        due = Message.objects.filter(status=MessageStatus.SCHEDULED, due_at__lte=now).filter(
            # Held sendings keep their messages, except those past expiry.
            ~Q(sending__status__in=HELD_SENDING_STATUSES) | Q(expires_at__lte=now)
        )
        if sending_id is not None:
            due = due.filter(sending_id=sending_id)
        due = due.order_by("due_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        rows = list(due.values("id", "public_id", "sending_id", "expires_at")[:limit])
        if not rows:
            return tally

        expired = [row for row in rows if row["expires_at"] is not None and row["expires_at"] <= now]
        if expired:
            messages_expire(rows=expired, now=now)
            tally["expired"] = len(expired)

        expired_ids = {row["id"] for row in expired}
        remaining = [row for row in rows if row["id"] not in expired_ids]
        sendings = Sending.objects.in_bulk({row["sending_id"] for row in remaining})
        queue: list[int] = []
        defer: dict[datetime, list[int]] = {}
        for row in remaining:
            windows = available_times_parse(sendings[row["sending_id"]].options.get(AVAILABLE_TIMES_KEY))
            next_start = window_next_start(windows, now)
            if next_start <= now:
                queue.append(row["id"])
            else:
                defer.setdefault(next_start, []).append(row["id"])
        if queue:
            Message.objects.filter(pk__in=queue).update(status=MessageStatus.QUEUED, updated_at=now)
            tally["queued"] = len(queue)
        for next_start, ids in defer.items():
            # Not past the expiry, so an expiring message is expired on time rather than at the window.
            deferred = Message.objects.filter(pk__in=ids)
            deferred.filter(expires_at__isnull=True).update(due_at=next_start, updated_at=now)
            deferred.filter(expires_at__isnull=False).update(
                due_at=Least(Value(next_start), "expires_at"), updated_at=now
            )
            tally["deferred"] += len(ids)
    return tally


def messages_expire(*, rows: list[dict[str, Any]], now: datetime) -> None:
    """Expire not-yet-sent messages (dicts with id, public_id, sending_id): status EXPIRED, an
    `expired` event each, and their sendings' `processed` advanced."""
    Message.objects.filter(pk__in=[row["id"] for row in rows]).update(
        status=MessageStatus.EXPIRED, final_at=now, error_reason="expired before it could be sent", updated_at=now
    )
    events_record(
        events=[
            DeliveryEvent(
                type=EventType.EXPIRED,
                occurred_at=now,
                provider_event_id=f"dispatch:{row['public_id']}:expired",
                message_public_id=row["public_id"],
                reason="expired before it could be sent",
            )
            for row in rows
        ]
    )
    sendings_progress(processed=Counter(row["sending_id"] for row in rows), now=now)
