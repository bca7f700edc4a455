"""When marketing may reach a recipient, in the recipient's local time.

Two sources of rules, both in local time:
- the destination country's `CountryRule` (data: France Monday-Saturday 08:00-22:00; Colombia Monday-Friday
  07:00-19:00, Saturday 08:00-15:00, never Sundays nor Colombian public holidays from the `holidays` library);
- the account's own `QuietHours` rows: no marketing in [start, end) (end before start: the window crosses
  midnight and ends the next day), on the listed weekdays (the weekday the window *starts*; empty: every
  day), in the listed countries (empty: every country).

The recipient's zones (`recipient_zones`): the contact's time zone when it has one; else the zones
phonenumbers gives its number (`phonenumbers.timezone.time_zones_for_number`, memoised per area prefix and
length: parsing a number costs ~30 µs, a million of them 30 s); else the zones of
the destination country's calling code; else the account's time zone. When several zones are possible (a
Spanish number: Madrid or the Canaries; a US toll-free number: every NANP zone) the most restrictive
interpretation holds: an instant is allowed only when it is allowed in *every* candidate zone.

`next_allowed(now, zones, rules)` is exact to the minute: allowed-ness only changes at a window or quiet-hours
boundary or at local midnight (holidays, weekdays), so it checks `now` and then those boundaries in order
(each zone's, over the next 15 days) and returns the first one allowed everywhere. A boundary that falls in a
DST gap (a window starting at 02:30 on the spring-forward night) is taken at the local wall time read with
the offset before the change. When nothing is allowed for 15 days (rules that contradict each other) it
raises `NoAllowedTime`.

`release_instant` combines these rules with the sending's availableTimes windows (messaging/scheduling.py,
UTC): the first instant both allow, found by alternating the two "next start" functions until they agree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from phonenumbers import timezone as phone_timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

_SEARCH_DAYS = 15
_MINUTES_PER_DAY = 24 * 60
_UNKNOWN_ZONE = "Etc/Unknown"


class NoAllowedTime(Exception):
    """No instant in the next 15 days is allowed by every rule in every zone."""


@dataclass(frozen=True, slots=True)
class QuietWindow:
    """No marketing from `start` to `end` (minutes from local midnight; `end` ≤ `start`: ends the next day)
    on the weekdays listed (0 = Monday, the day the window starts; empty: every day)."""

    start: int
    end: int
    weekdays: frozenset[int] = frozenset()

    def forbids(self, weekday: int, minute: int) -> bool:
        every_day = not self.weekdays
        if self.start < self.end:
            return self.start <= minute < self.end and (every_day or weekday in self.weekdays)
        if minute >= self.start:
            return every_day or weekday in self.weekdays
        return minute < self.end and (every_day or (weekday - 1) % 7 in self.weekdays)


@dataclass(frozen=True, slots=True)
class TimeRules:
    """Everything that decides, in one local zone, whether marketing may go at a local wall time."""

    # weekday (0 = Monday) → [(start, end)] minutes; None: no country window (any time).
    allowed: Mapping[int, tuple[tuple[int, int], ...]] | None = None
    holiday_country: str | None = None  # no marketing on this country's public holidays
    quiet: tuple[QuietWindow, ...] = field(default_factory=tuple)

    @property
    def restricts(self) -> bool:
        return self.allowed is not None or self.holiday_country is not None or bool(self.quiet)

    def allows_local(self, local: datetime) -> bool:
        weekday = local.weekday()
        minute = local.hour * 60 + local.minute
        if self.allowed is not None:
            if not any(start <= minute < end for start, end in self.allowed.get(weekday, ())):
                return False
        if self.holiday_country is not None and _is_holiday(self.holiday_country, local.date()):
            return False
        return not any(window.forbids(weekday, minute) for window in self.quiet)

    def boundaries(self) -> list[int]:
        """Minutes from local midnight at which allowed-ness may change (besides midnight itself)."""
        minutes = {0}
        if self.allowed is not None:
            for spans in self.allowed.values():
                for start, end in spans:
                    minutes.update((start, end % _MINUTES_PER_DAY))
        for window in self.quiet:
            minutes.update((window.start, window.end % _MINUTES_PER_DAY))
        return sorted(minutes)


def clock_minutes(value: str | time) -> int:
    """Minutes from midnight of "HH:MM" ("24:00" is 1440) or a time."""
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def allowed_windows_parse(raw: Mapping[str, Sequence[Sequence[str]]] | None) -> dict[int, tuple[tuple[int, int], ...]]:
    """CountryRule.allowed_windows ({"0": [["08:00", "22:00"]], …}) as weekday → minute spans."""
    return {
        int(day): tuple((clock_minutes(start), clock_minutes(end)) for start, end in spans)
        for day, spans in (raw or {}).items()
    }


@functools.lru_cache(maxsize=64)
def _holiday_calendar(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year)


def _is_holiday(country: str, day: date) -> bool:
    return day in _holiday_calendar(country, day.year)


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


_phone_zones_memo: dict[tuple[str, int], tuple[str, ...] | None] = {}


def phone_zones(digits: str) -> tuple[str, ...] | None:
    """The zones `phonenumbers.timezone.time_zones_for_number` gives an international number (digits, no
    '+'), or None when unknown. Parsing costs ~30 µs, so the answer is memoised per (longest prefix of the
    time-zone table the number starts with, number length): numbers sharing both share an area code and
    length, hence a number type (mobile numbers are country-wide in most countries) and zones."""
    prefix = ""
    for length in range(min(TIMEZONE_LONGEST_PREFIX, len(digits)), 0, -1):
        if digits[:length] in TIMEZONE_DATA:
            prefix = digits[:length]
            break
    if not prefix:
        return None
    key = (prefix, len(digits))
    if key not in _phone_zones_memo:
        try:
            zones = tuple(phone_timezone.time_zones_for_number(phonenumbers.parse("+" + digits)))
        except phonenumbers.NumberParseException:
            zones = (_UNKNOWN_ZONE,)
        _phone_zones_memo[key] = None if zones == (_UNKNOWN_ZONE,) else zones
    return _phone_zones_memo[key]


@functools.lru_cache(maxsize=512)
def country_zones(country: str) -> tuple[str, ...] | None:
    """The zones of a country's calling code (all of them: the most restrictive reading)."""
    code = phonenumbers.country_code_for_region(country)
    zones = TIMEZONE_DATA.get(str(code)) if code else None
    return None if zones is None or zones == (_UNKNOWN_ZONE,) else zones


def recipient_zones(*, time_zone: str | None, address: str, country: str | None, account_zone: str) -> tuple[str, ...]:
    """The zones the recipient may be in, most specific source first (see the module docstring)."""
    if time_zone:
        return (time_zone,)
    if country:
        by_country = country_zones(country)
        # One zone for the whole calling code: the number cannot say more (and costs no lookup).
        if by_country is not None and len(by_country) == 1:
            return by_country
    if address.isdigit():
        by_phone = phone_zones(address)
        if by_phone is not None:
            return by_phone
    if country:
        by_country = country_zones(country)
        if by_country is not None:
            return by_country
    return (account_zone,)


def is_allowed(moment: datetime, zones: Iterable[str], rules: TimeRules) -> bool:
    return all(rules.allows_local(moment.astimezone(zone(name))) for name in zones)


def next_allowed(now: datetime, zones: Sequence[str], rules: TimeRules) -> datetime:
    """`now` when marketing may go now in every zone, else the first later instant (to the minute) when it
    may; NoAllowedTime when none within 15 days."""
    if not rules.restricts or is_allowed(now, zones, rules):
        return now
    boundaries = rules.boundaries()
    instants: set[datetime] = set()
    for name in zones:
        tz = zone(name)
        first_day = now.astimezone(tz).date() - timedelta(days=1)
        for offset in range(_SEARCH_DAYS + 1):
            day = first_day + timedelta(days=offset)
            midnight = datetime(day.year, day.month, day.day)
            for minute in boundaries:
                # Wall time → instant; in a DST gap fold=0 reads it with the offset before the change.
                instant = (midnight + timedelta(minutes=minute)).replace(tzinfo=tz).astimezone(UTC)
                if instant > now:
                    instants.add(instant)
    for instant in sorted(instants):
        if is_allowed(instant, zones, rules):
            return instant
    raise NoAllowedTime(f"No instant in the next {_SEARCH_DAYS} days is allowed by every rule in {', '.join(zones)}.")


def release_instant(
    now: datetime, zones: Sequence[str], rules: TimeRules, window_next: Callable[[datetime], datetime]
) -> datetime:
    """The first instant ≥ now that the quiet-hours rules and the availableTimes windows both allow.
    `window_next` is `functools.partial(messaging.scheduling.window_next_start, windows)` (passed in, so this
    leaf module does not import the messaging app)."""
    moment = now
    for _ in range(64):
        in_window = window_next(moment)
        allowed = next_allowed(in_window, zones, rules)
        if allowed == in_window:
            return allowed
        moment = allowed
    raise NoAllowedTime("The availableTimes windows and the quiet hours never overlap.")
