"""Reads for the staff dashboard: sendings under way and scheduled, messages per day by channel,
and the delivery funnel of recent sendings.

Everything is read from Sending rows (their totals and the 14 event counters are columns kept up
to date per batch), never by counting Message rows, so the dashboard costs the same with a million
messages as with ten: a handful of indexed queries over the account's sendings.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Account
from campaigns.models import Channel, Sending, SendingStatus

DASHBOARD_DAYS: Final = 30
DASHBOARD_LIST_LIMIT: Final = 10
FUNNEL_SENDINGS: Final = 5
CHART_CHANNELS: Final = (Channel.SMS, Channel.MAILING, Channel.LANDING)
UNDER_WAY: Final = (SendingStatus.PENDING, SendingStatus.SENDING, SendingStatus.PAUSED)


def account_zone(account: Account) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(account.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def sendings_in_progress(*, account: Account, now: datetime | None = None) -> QuerySet[Sending]:
    """Sendings being sent, paused, or due and waiting for the dispatcher, newest first."""
    now = now or timezone.now()
    due = Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now)
    return (
        Sending.objects.filter(account=account, status__in=UNDER_WAY)
        .filter(due | ~Q(status=SendingStatus.PENDING))
        .select_related("campaign")
        .order_by("-id")
    )


def sendings_scheduled(*, account: Account, now: datetime | None = None) -> QuerySet[Sending]:
    """Sendings waiting for a future scheduleDate, soonest first."""
    now = now or timezone.now()
    return (
        Sending.objects.filter(account=account, status=SendingStatus.PENDING, scheduled_at__gt=now)
        .select_related("campaign")
        .order_by("scheduled_at", "id")
    )


@dataclass(frozen=True)
class DailyCounts:
    days: list[date]
    per_channel: dict[str, list[int]]  # channel -> one count per day

    @property
    def total(self) -> int:
        return sum(sum(values) for values in self.per_channel.values())


def messages_per_day(*, account: Account, days: int = DASHBOARD_DAYS, now: datetime | None = None) -> DailyCounts:
    """Messages accepted per day of the account's time zone for the last `days` days, by channel.

    A message counts on the day its sending was accepted (Sending.total, which group sends raise
    as their fan-out chunks write messages): one aggregate over the account's sendings.
    """
    zone = account_zone(account)
    today = timezone.localtime(now or timezone.now(), zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    rows = (
        Sending.objects.filter(account=account, created_at__gte=since, channel__in=CHART_CHANNELS)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values_list("day", "channel")
        .annotate(messages=Sum("total"))
        .order_by()
    )
    span = [first + timedelta(days=offset) for offset in range(days)]
    index = {day: position for position, day in enumerate(span)}
    per_channel = {channel: [0] * days for channel in CHART_CHANNELS}
    for day, channel, messages in rows:
        if day in index:
            per_channel[channel][index[day]] += messages or 0
    return DailyCounts(days=span, per_channel=per_channel)


FUNNEL_STAGES: Final = (
    ("Sent", "sent"),
    ("Delivered", "delivered"),
    ("Opened", "opened_unique"),
    ("Clicked", "clicked_unique"),
)


def funnel_sendings(*, account: Account, limit: int = FUNNEL_SENDINGS) -> list[Sending]:
    """The account's latest sendings that have started (some message sent), newest first."""
    return list(
        Sending.objects.filter(account=account, sent__gt=0)
        .exclude(status=SendingStatus.CANCELLED)
        .select_related("campaign")
        .order_by("-id")[:limit]
    )
