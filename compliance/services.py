"""Writes of an account's compliance settings, quiet hours and frequency caps.

Every write validates first and changes nothing on error (`ValidationError` keyed by field, with a sentence
fit to show beside it), then records each changed value in `ComplianceChange` with who and when, in the same
transaction. Contradictions refused: holdout outside 0-20 %, a cap of 0 or a period outside 1-366 days, an
unknown country code, quiet hours whose start equals their end (an empty or a whole-day window: ambiguous),
and quiet hours that together leave no minute of the week for marketing.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django_countries import countries as known_countries

from accounts.models import Account, User
from campaigns.models import Channel
from compliance.models import (
    ComplianceChange,
    ComplianceSettings,
    FrequencyCap,
    QuietHours,
    UnsubscribePolicy,
)
from compliance.protocol import Purpose
from compliance.quiet_hours import NoAllowedTime, QuietWindow, TimeRules, clock_minutes, next_allowed

SETTINGS_FIELDS = (
    "default_purpose",
    "holdout_percent",
    "stop_code",
    "opt_in_countries",
    "unsubscribe_policy",
    "stop_instruction",
    "keyword_confirmation",
    "stop_confirmation_text",
    "start_confirmation_text",
    "help_text",
)
MAX_HOLDOUT_PERCENT = Decimal("20")
_STOP_CODE = re.compile(r"^[A-Za-z0-9]{1,20}$")
# A week from a Monday: quiet hours that leave nothing in it leave nothing ever.
_WEEK_START = datetime(2024, 1, 1, tzinfo=UTC)


def compliance_settings_get(account: Account) -> ComplianceSettings:
    """The account's settings, created with the defaults (and a random holdout key) on first use."""
    settings, _ = ComplianceSettings.objects.get_or_create(
        account=account, defaults={"holdout_key": secrets.token_hex(32)}
    )
    return settings


def _as_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return "" if value is None else str(value)


def _changes_record(*, account: Account, user: User | None, changes: Iterable[tuple[str, Any, Any]]) -> None:
    ComplianceChange.objects.bulk_create(
        ComplianceChange(
            account=account, changed_by=user, field=field, old_value=_as_text(old), new_value=_as_text(new)
        )
        for field, old, new in changes
    )


def _clean_all(checks: Iterable[tuple[str, Callable[[], Any]]]) -> dict[str, Any]:
    """Run every field's check; one ValidationError with every field's message when any fails."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for field, check in checks:
        try:
            cleaned[field] = check()
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return cleaned


def countries_clean(raw: Any, *, field: str) -> list[str]:
    """ISO codes as a list (a list or a comma-separated string), upper-case, each known, no repeats."""
    if raw is None or raw == "":
        return []
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValidationError({field: "Give country codes as a list, e.g. IE, FR."})
    known = dict(known_countries)
    codes: list[str] = []
    for item in items:
        code = str(item).strip().upper()
        if not code:
            continue
        if code not in known:
            raise ValidationError({field: f"{code!r} is not a known two-letter country code."})
        if code not in codes:
            codes.append(code)
    return codes


def _choice(value: Any, choices: Iterable[str], *, field: str, label: str) -> str:
    allowed = list(choices)
    if value not in allowed:
        raise ValidationError({field: f"The {label} must be one of: {', '.join(allowed)}."})
    return value


def _holdout_clean(value: Any) -> Decimal:
    try:
        percent = Decimal(str(value).strip().rstrip("%").strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({"holdout_percent": "The holdout share must be a number of percent."}) from None
    if not percent.is_finite() or not Decimal("0") <= percent <= MAX_HOLDOUT_PERCENT:
        raise ValidationError({"holdout_percent": "The holdout share must be between 0 and 20 %."})
    if percent != percent.quantize(Decimal("0.1")):
        raise ValidationError({"holdout_percent": "The holdout share takes at most one decimal (e.g. 7.5)."})
    return percent.quantize(Decimal("0.1"))


def _text(value: Any, *, field: str, max_length: int) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > max_length:
        raise ValidationError({field: f"At most {max_length} characters."})
    return text


def compliance_setting_clean(field: str, value: Any) -> Any:
    if field == "default_purpose":
        return _choice(value, [purpose.value for purpose in Purpose], field=field, label="default purpose")
    if field == "holdout_percent":
        return _holdout_clean(value)
    if field == "stop_code":
        code = _text(value, field=field, max_length=20)
        if code and not _STOP_CODE.match(code):
            raise ValidationError({field: "The STOP code is letters and digits only, e.g. 36180."})
        return code
    if field == "opt_in_countries":
        return countries_clean(value, field=field)
    if field == "unsubscribe_policy":
        return _choice(value, UnsubscribePolicy.values, field=field, label="unsubscribe policy")
    if field == "keyword_confirmation":
        if not isinstance(value, bool):
            raise ValidationError({field: "Must be true or false."})
        return value
    if field == "stop_instruction":
        text = _text(value, field=field, max_length=60)
        if not text:
            raise ValidationError({field: "The STOP instruction appended to messages cannot be empty."})
        return text
    max_length = ComplianceSettings._meta.get_field(field).max_length
    return _text(value, field=field, max_length=max_length)


def compliance_settings_update(*, account: Account, user: User | None, **changes: Any) -> ComplianceSettings:
    """Change some settings (keyword arguments named after SETTINGS_FIELDS). All are validated before any is
    written; each value that really changes is recorded."""
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: f"{unknown[0]!r} is not a compliance setting."})
    cleaned = _clean_all(
        (field, functools.partial(compliance_setting_clean, field, value)) for field, value in changes.items()
    )
    with transaction.atomic():
        settings = compliance_settings_get(account)
        settings = ComplianceSettings.objects.select_for_update().get(pk=settings.pk)
        changed = [
            (field, getattr(settings, field), value)
            for field, value in cleaned.items()
            if getattr(settings, field) != value
        ]
        if changed:
            for field, _, value in changed:
                setattr(settings, field, value)
            settings.save(update_fields=[field for field, _, _ in changed] + ["updated_at"])
            _changes_record(account=account, user=user, changes=changed)
    return settings


# ---------------------------------------------------------------------------------------------
# Quiet hours


def _clock_clean(value: Any, *, field: str) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    text = str(value or "").strip()
    if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", text):
        raise ValidationError({field: "A time in HH:MM format, e.g. 21:00."})
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _weekdays_clean(raw: Any) -> list[int]:
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list | tuple):
        raise ValidationError({"weekdays": "Give weekdays as a list of 0 (Monday) to 6 (Sunday)."})
    days: set[int] = set()
    for item in raw:
        try:
            day = int(item)
        except (TypeError, ValueError):
            raise ValidationError({"weekdays": f"{item!r} is not a weekday (0 = Monday … 6 = Sunday)."}) from None
        if not 0 <= day <= 6:
            raise ValidationError({"weekdays": f"{day} is not a weekday (0 = Monday … 6 = Sunday)."})
        days.add(day)
    return sorted(days)


def _leaves_time_for_marketing(windows: list[QuietWindow]) -> bool:
    try:
        next_allowed(_WEEK_START, ("UTC",), TimeRules(quiet=tuple(windows)))
    except NoAllowedTime:
        return False
    return True


def quiet_hours_clean(
    *, account: Account, start: Any, end: Any, weekdays: Any = None, countries: Any = None
) -> dict[str, Any]:
    """The validated fields of new quiet hours; ValidationError keyed by field otherwise."""
    cleaned = _clean_all(
        (
            ("start", lambda: _clock_clean(start, field="start")),
            ("end", lambda: _clock_clean(end, field="end")),
            ("weekdays", lambda: _weekdays_clean(weekdays)),
            ("countries", lambda: countries_clean(countries, field="countries")),
        )
    )
    if cleaned["start"] == cleaned["end"]:
        raise ValidationError({"end": "The quiet hours must end at another time than they start."})
    new = QuietWindow(
        start=clock_minutes(cleaned["start"]),
        end=clock_minutes(cleaned["end"]),
        weekdays=frozenset(cleaned["weekdays"]),
    )
    existing = list(QuietHours.objects.filter(account=account))
    # Check the countries the new window covers (every country: None) with the windows applying there too.
    for country in cleaned["countries"] or [None]:
        windows = [new] + [
            QuietWindow(start=clock_minutes(row.start), end=clock_minutes(row.end), weekdays=frozenset(row.weekdays))
            for row in existing
            if not row.countries or country is None or country in row.countries
        ]
        if not _leaves_time_for_marketing(windows):
            where = f" in {country}" if country else ""
            raise ValidationError({"end": f"With these quiet hours no time of the week is left for marketing{where}."})
    return cleaned


def quiet_hours_create(
    *, account: Account, user: User | None, start: Any, end: Any, weekdays: Any = None, countries: Any = None
) -> QuietHours:
    cleaned = quiet_hours_clean(account=account, start=start, end=end, weekdays=weekdays, countries=countries)
    with transaction.atomic():
        row = QuietHours.objects.create(account=account, **cleaned)
        _changes_record(account=account, user=user, changes=[("quiet_hours", "", quiet_hours_describe(row))])
    return row


def quiet_hours_delete(*, account: Account, user: User | None, quiet_hours_id: int) -> bool:
    with transaction.atomic():
        row = QuietHours.objects.filter(account=account, pk=quiet_hours_id).first()
        if row is None:
            return False
        description = quiet_hours_describe(row)
        row.delete()
        _changes_record(account=account, user=user, changes=[("quiet_hours", description, "")])
    return True


WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def quiet_hours_describe(row: QuietHours) -> str:
    days = ", ".join(WEEKDAY_NAMES[day] for day in row.weekdays) if row.weekdays else "every day"
    where = ", ".join(row.countries) if row.countries else "every country"
    return f"no marketing {row.start:%H:%M}-{row.end:%H:%M} ({days}; {where})"


# ---------------------------------------------------------------------------------------------
# Frequency caps

CAP_CHANNELS = ("", Channel.SMS, Channel.MAILING, Channel.TEXT2SPEECH, Channel.VOICE_INTERACTIVE, Channel.WHATSAPP)


def _positive_int(value: Any, *, field: str, low: int, high: int, message: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationError({field: "A whole number."}) from None
    if not low <= number <= high:
        raise ValidationError({field: message})
    return number


def frequency_cap_clean(*, channel: Any, max_messages: Any, period_days: Any) -> dict[str, Any]:
    return _clean_all(
        [
            (
                "channel",
                lambda: _choice(
                    channel or "", [str(value) for value in CAP_CHANNELS], field="channel", label="channel (empty: any)"
                ),
            ),
            (
                "max_messages",
                lambda: _positive_int(
                    max_messages,
                    field="max_messages",
                    low=1,
                    high=10_000,
                    message="A cap allows 1 to 10,000 messages (a cap of 0 would block all marketing).",
                ),
            ),
            (
                "period_days",
                lambda: _positive_int(
                    period_days, field="period_days", low=1, high=366, message="The period is 1 to 366 days."
                ),
            ),
        ]
    )


def frequency_cap_create(
    *, account: Account, user: User | None, channel: Any, max_messages: Any, period_days: Any
) -> FrequencyCap:
    cleaned = frequency_cap_clean(channel=channel, max_messages=max_messages, period_days=period_days)
    with transaction.atomic():
        cap = FrequencyCap.objects.create(account=account, **cleaned)
        _changes_record(account=account, user=user, changes=[("frequency_cap", "", str(cap))])
    return cap


def frequency_cap_delete(*, account: Account, user: User | None, cap_id: int) -> bool:
    with transaction.atomic():
        cap = FrequencyCap.objects.filter(account=account, pk=cap_id).first()
        if cap is None:
            return False
        description = str(cap)
        cap.delete()
        _changes_record(account=account, user=user, changes=[("frequency_cap", description, "")])
    return True
