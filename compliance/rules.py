"""The compliance rules the send pipeline asks, batch by batch, through `compliance.protocol.rules_judge`.

`account_rules(ctx)` loads an account's settings once per send (or fan-out chunk) and returns its active
rules in the issue's order — consent → holdout → frequency cap → quiet hours — leaving out the inactive ones
(no caps: no cap rule; no holdout share: no holdout rule; a transactional send: no rule at all), so a send
without rules pays nothing per candidate. Each rule's `judge` does at most one query per batch (≤ 10,000
candidates) and only dictionary work per candidate.

Decisions where the spec is silent:
- Consent is read on the channel's consent channel: SMS and landing SMS → `sms`, text-to-speech and
  interactive voice → `voice`. `opted_out` skips everywhere; in an opt-in country (the account's
  `opt_in_countries`, default ["IE"], plus every CountryRule with `opt_in_required`) anything but `opted_in`
  skips; a candidate without a contact has unknown consent.
- Holdout: a contact is held out iff blake2b(contact id, key=holdout_key) mod 10,000 < percent * 100, so
  adding contacts never moves anyone in or out; a candidate without a contact is never held out (there is
  nobody to measure).
- Frequency caps count `ContactTouch` rows of the last `period_days` UTC days including today
  (`day > today - period_days`); a cap on one channel counts that channel only (a landing SMS counts as
  `sms`), an "any" cap counts every channel. Candidates earlier in the same batch count too. Two sends
  judging the same contact at the same moment can both pass (no lock per contact: a cap is a marketing
  limit, not a ledger).
- Quiet hours: see compliance/quiet_hours.py. A candidate whose country has no time rule and to whom none of
  the account's quiet hours applies costs one dictionary lookup. Rules that allow nothing for 15 days skip
  the message (reason quiet_hours) rather than hold it forever.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection

from accounts.models import Account
from compliance.models import (
    ComplianceSettings,
    ConsentStatus,
    ContactConsent,
    ContactTouch,
    CountryRule,
    FrequencyCap,
    QuietHours,
    default_opt_in_countries,
)
from compliance.protocol import Candidate, Hold, Purpose, Reason, Rule, RuleContext, Skip, Verdict
from compliance.quiet_hours import (
    NoAllowedTime,
    QuietWindow,
    TimeRules,
    allowed_windows_parse,
    clock_minutes,
    next_allowed,
    recipient_zones,
)
from messaging.bulk_sql import pg_execute

MARKETING = frozenset({Purpose.MARKETING.value})
HOLDOUT_BUCKETS = 10_000

CONSENT_CHANNELS = {
    "sms": "sms",
    "landing": "sms",
    "mailing": "mailing",
    "text2speech": "voice",
    "voice-interactive": "voice",
    "whatsapp": "whatsapp",
}
# A landing SMS is an SMS for caps and touches.
_CAP_CHANNELS = {"landing": "sms"}


def cap_channel(channel: str) -> str:
    return _CAP_CHANNELS.get(channel, channel)


def _ids_condition(column: str, ids: list[int]) -> tuple[str, list[Any]]:
    """`column` in ids, as one array parameter on PostgreSQL (10,000 placeholders cost parsing time)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [ids]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows of one query. On PostgreSQL with server-side binding (messaging.bulk_sql): Django's client-side
    binding quotes a 10,000-id array into the SQL text in Python, which cost more than the query itself."""
    if connection.vendor == "postgresql":
        return pg_execute(sql, params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _contact_ids(candidates: Iterable[Candidate]) -> list[int]:
    return list({candidate.contact_id for candidate in candidates if candidate.contact_id is not None})


# ---------------------------------------------------------------------------------------------
# Consent


@dataclass
class ConsentRule:
    opt_in_countries: frozenset[str]
    reason: str = Reason.CONSENT.value
    purposes: frozenset[str] = MARKETING
    at_dispatch: bool = True

    def judge(self, ctx: RuleContext, candidates: Sequence[Candidate]) -> dict[int, Verdict]:
        channel = CONSENT_CHANNELS.get(ctx.channel, ctx.channel)
        ids = _contact_ids(candidates)
        statuses: dict[int, str] = {}
        if ids:
            condition, params = _ids_condition("contact_id", ids)
            statuses = dict(
                _fetch(
                    f"SELECT contact_id, status FROM {ContactConsent._meta.db_table} "  # noqa: S608
                    f"WHERE channel = %s AND {condition}",
                    [channel, *params],
                )
            )
        opted_out, opted_in = ConsentStatus.OPTED_OUT.value, ConsentStatus.OPTED_IN.value
        opt_in_countries = self.opt_in_countries
        verdicts: dict[int, Verdict] = {}
        for index, candidate in enumerate(candidates):
            status = statuses.get(candidate.contact_id) if candidate.contact_id is not None else None
            if status == opted_out:
                verdicts[index] = Skip(self.reason, f"opted out of {channel}")
            elif candidate.country in opt_in_countries and status != opted_in:
                verdicts[index] = Skip(self.reason, f"{candidate.country} needs an explicit opt-in on {channel}")
        return verdicts


# ---------------------------------------------------------------------------------------------
# Holdout


def holdout_bucket(key: str, contact_id: int) -> int:
    """The contact's stable bucket in 0..9,999 for this key."""
    digest = hashlib.blake2b(str(contact_id).encode(), key=key.encode()[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big") % HOLDOUT_BUCKETS


def holdout_threshold(percent: Decimal | float) -> int:
    return int(Decimal(str(percent)) * HOLDOUT_BUCKETS / 100)


@dataclass
class HoldoutRule:
    key: str
    percent: Decimal
    reason: str = Reason.HOLDOUT.value
    purposes: frozenset[str] = MARKETING
    at_dispatch: bool = False

    def judge(self, ctx: RuleContext, candidates: Sequence[Candidate]) -> dict[int, Verdict]:
        if ctx.ignore_holdout:
            return {}
        threshold = holdout_threshold(self.percent)
        key = self.key.encode()[:64]
        blake2b = hashlib.blake2b
        skip = Skip(self.reason)
        verdicts: dict[int, Verdict] = {}
        for index, candidate in enumerate(candidates):
            contact_id = candidate.contact_id
            if contact_id is None:
                continue
            digest = blake2b(str(contact_id).encode(), key=key, digest_size=8).digest()
            if int.from_bytes(digest, "big") % HOLDOUT_BUCKETS < threshold:
                verdicts[index] = skip
        return verdicts


# ---------------------------------------------------------------------------------------------
# Frequency caps


@dataclass(frozen=True, slots=True)
class Cap:
    channel: str  # a cap channel, or "" for any channel
    max_messages: int
    period_days: int

    def first_day(self, today: date) -> date:
        return today - timedelta(days=self.period_days - 1)


@dataclass
class FrequencyCapRule:
    caps: tuple[Cap, ...]
    reason: str = Reason.FREQUENCY_CAP.value
    purposes: frozenset[str] = MARKETING
    at_dispatch: bool = False

    def judge(self, ctx: RuleContext, candidates: Sequence[Candidate]) -> dict[int, Verdict]:
        channel = cap_channel(ctx.channel)
        caps = [cap for cap in self.caps if cap.channel in ("", channel)]
        ids = _contact_ids(candidates)
        if not caps or not ids:
            return {}
        counts = self._counts(caps, ids, ctx.now.astimezone(UTC).date())
        zero = (0,) * len(caps)
        limits = [(position, cap.max_messages) for position, cap in enumerate(caps)]
        in_batch: Counter[int] = Counter()
        verdicts: dict[int, Verdict] = {}
        for index, candidate in enumerate(candidates):
            contact_id = candidate.contact_id
            if contact_id is None:
                continue
            earlier = counts.get(contact_id, zero)
            seen = in_batch[contact_id]
            for position, limit in limits:
                if earlier[position] + seen >= limit:
                    cap = caps[position]
                    verdicts[index] = Skip(
                        self.reason, f"{cap.max_messages} per {cap.period_days} d on {cap.channel or 'any channel'}"
                    )
                    break
            else:
                in_batch[contact_id] = seen + 1
        return verdicts

    @staticmethod
    def _counts(caps: list[Cap], ids: list[int], today: date) -> dict[int, tuple[int, ...]]:
        """Per contact, its touches in each cap's period: one query over the (contact_id, day, channel) index."""
        sums, params = [], []
        for cap in caps:
            if cap.channel:
                sums.append('SUM(CASE WHEN day >= %s AND channel = %s THEN "count" ELSE 0 END)')
                params += [cap.first_day(today), cap.channel]
            else:
                sums.append('SUM(CASE WHEN day >= %s THEN "count" ELSE 0 END)')
                params.append(cap.first_day(today))
        condition, id_params = _ids_condition("contact_id", ids)
        earliest = min(cap.first_day(today) for cap in caps)
        rows = _fetch(
            f"SELECT contact_id, {', '.join(sums)} FROM {ContactTouch._meta.db_table} "  # noqa: S608
            f"WHERE {condition} AND day >= %s GROUP BY contact_id",
            [*params, *id_params, earliest],
        )
        return {row[0]: tuple(int(value or 0) for value in row[1:]) for row in rows}


def touches_record(*, account_id: int, channel: str, day: date, contact_ids: Iterable[int]) -> int:
    """Count one marketing message per contact id (a contact listed twice counts twice) on `day` (UTC) in one
    upsert per batch; returns the number of contacts touched. The pipeline calls it for the marketing
    messages it accepts, in the transaction that writes them."""
    counts = Counter(contact_id for contact_id in contact_ids if contact_id is not None)
    if not counts:
        return 0
    channel = cap_channel(channel)
    table = ContactTouch._meta.db_table
    # Sorted, so two chunks touching the same contacts lock their rows in the same order (no deadlock).
    ids = sorted(counts)
    upsert = 'ON CONFLICT (contact_id, day, channel) DO UPDATE SET "count" = ' + table + '."count" + EXCLUDED."count"'
    if connection.vendor == "postgresql":
        pg_execute(
            f'INSERT INTO {table} (account_id, contact_id, channel, day, "count") '  # noqa: S608
            "SELECT %s, contact_id, %s, %s, n FROM unnest(%s::bigint[], %s::integer[]) AS t(contact_id, n) " + upsert,
            [account_id, channel, day, ids, [counts[contact_id] for contact_id in ids]],
        )
        return len(ids)
    with connection.cursor() as cursor:  # SQLite (the quick start): one upsert per contact, same result
        cursor.executemany(
            f'INSERT INTO {table} (account_id, contact_id, channel, day, "count") VALUES (%s, %s, %s, %s, %s) '  # noqa: S608
            + upsert,
            [(account_id, contact_id, channel, day, counts[contact_id]) for contact_id in ids],
        )
    return len(ids)


# ---------------------------------------------------------------------------------------------
# Quiet hours


@dataclass(frozen=True, slots=True)
class AccountQuietHours:
    window: QuietWindow
    countries: frozenset[str]  # empty: every country


@dataclass
class QuietHoursRule:
    country_rules: dict[str, TimeRules]  # countries with a time rule (windows and/or no holidays)
    quiet_hours: tuple[AccountQuietHours, ...]
    account_zone: str
    reason: str = Reason.QUIET_HOURS.value
    purposes: frozenset[str] = MARKETING
    at_dispatch: bool = True
    _by_country: dict[str | None, TimeRules] = field(default_factory=dict, repr=False)
    _verdicts: dict[tuple[datetime, str | None, tuple[str, ...]], Verdict | None] = field(
        default_factory=dict, repr=False
    )

    def rules_for(self, country: str | None) -> TimeRules:
        rules = self._by_country.get(country)
        if rules is None:
            base = self.country_rules.get(country) if country else None
            quiet = tuple(
                entry.window for entry in self.quiet_hours if not entry.countries or country in entry.countries
            )
            rules = TimeRules(
                allowed=base.allowed if base else None,
                holiday_country=base.holiday_country if base else None,
                quiet=quiet,
            )
            self._by_country[country] = rules
        return rules

    def verdict_for(self, now: datetime, country: str | None, zones: tuple[str, ...]) -> Verdict | None:
        key = (now, country, zones)
        if key not in self._verdicts:
            try:
                until = next_allowed(now, zones, self.rules_for(country))
                verdict: Verdict | None = None if until == now else Hold(until=until, reason=self.reason)
            except NoAllowedTime as error:
                verdict = Skip(self.reason, str(error))
            self._verdicts[key] = verdict
        return self._verdicts[key]

    def judge(self, ctx: RuleContext, candidates: Sequence[Candidate]) -> dict[int, Verdict]:
        verdicts: dict[int, Verdict] = {}
        restricted: dict[str | None, bool] = {}
        for index, candidate in enumerate(candidates):
            country = candidate.country
            applies = restricted.get(country)
            if applies is None:
                applies = restricted[country] = self.rules_for(country).restricts
            if not applies:
                continue
            zones = recipient_zones(
                time_zone=candidate.time_zone,
                address=candidate.address,
                country=country,
                account_zone=self.account_zone,
            )
            verdict = self.verdict_for(ctx.now, country, zones)
            if verdict is not None:
                verdicts[index] = verdict
        return verdicts


def country_time_rules(row: CountryRule) -> TimeRules | None:
    allowed = allowed_windows_parse(row.allowed_windows) if row.allowed_windows else None
    holiday_country = row.country if row.no_public_holidays else None
    if allowed is None and holiday_country is None:
        return None
    return TimeRules(allowed=allowed, holiday_country=holiday_country)


def quiet_window(row: QuietHours) -> AccountQuietHours:
    return AccountQuietHours(
        window=QuietWindow(
            start=clock_minutes(row.start), end=clock_minutes(row.end), weekdays=frozenset(row.weekdays or [])
        ),
        countries=frozenset(row.countries or []),
    )


# ---------------------------------------------------------------------------------------------
# The account's rules


def account_rules(ctx: RuleContext) -> list[Rule]:
    """The account's active rules for this send, in order (consent → holdout → frequency cap → quiet hours);
    none for a transactional send. Reads the settings once: the account with its compliance row, its caps,
    its quiet hours and the country rules (four indexed queries, once per send or chunk)."""
    if ctx.purpose != Purpose.MARKETING:
        return []
    account = Account.objects.select_related("compliance").only("timezone", "compliance").get(pk=ctx.account_id)
    try:
        settings: ComplianceSettings | None = account.compliance
    except ComplianceSettings.DoesNotExist:
        settings = None
    countries = list(CountryRule.objects.all())
    caps = tuple(
        Cap(channel=cap_channel(channel), max_messages=max_messages, period_days=period_days)
        for channel, max_messages, period_days in FrequencyCap.objects.filter(account_id=ctx.account_id)
        .order_by("id")
        .values_list("channel", "max_messages", "period_days")
    )
    quiet_hours = tuple(
        quiet_window(row) for row in QuietHours.objects.filter(account_id=ctx.account_id).order_by("id")
    )

    opt_in = set(settings.opt_in_countries if settings is not None else default_opt_in_countries())
    opt_in.update(row.country for row in countries if row.opt_in_required)
    rules: list[Rule] = [ConsentRule(opt_in_countries=frozenset(opt_in))]
    if settings is not None and settings.holdout_percent > 0 and settings.holdout_key:
        rules.append(HoldoutRule(key=settings.holdout_key, percent=settings.holdout_percent))
    if caps:
        rules.append(FrequencyCapRule(caps=caps))
    country_rules = {row.country: time_rules for row in countries if (time_rules := country_time_rules(row))}
    if country_rules or quiet_hours:
        rules.append(
            QuietHoursRule(country_rules=country_rules, quiet_hours=quiet_hours, account_zone=account.timezone)
        )
    return rules
