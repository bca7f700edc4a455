"""Reads for the campaigns API: campaigns with their sendings, messages by public id, scheduled
messages, and the events report of a sending streamed row by row.

Every query is filtered by the caller's account; another account's ids behave like missing ones.
"""

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from django.db.models import Count, Exists, Max, Min, OuterRef, Prefetch, QuerySet
from django.db.models.functions import Trunc

from accounts.models import Account
from campaigns.errors import SendError
from campaigns.models import Campaign, Sending
from contacts.models import CustomField
from messaging.models import Event, Message, MessageStatus

REPORT_CHUNK_SIZE: Final = 5_000  # rows per server-side cursor fetch

# ---------------------------------------------------------------------------------------------
# Campaigns


@dataclass(frozen=True)
class CampaignFilters:
    name: str | None = None  # "*" is a wildcard
    channel: str | None = None
    before: datetime | None = None
    after: datetime | None = None


def _name_pattern(name: str) -> str:
    return "^" + ".*".join(re.escape(piece) for piece in name.split("*")) + "$"


def campaign_list(*, account: Account, filters: CampaignFilters) -> QuerySet[Campaign]:
    """The account's campaigns, newest first. `name` matches case-insensitively, `*` standing for
    any text; `channel` keeps campaigns with a sending on that channel; `after` / `before` bound
    the creation date (after <= createdAt < before)."""
    campaigns = Campaign.objects.filter(account=account)
    if filters.name is not None:
        if "*" in filters.name:
            campaigns = campaigns.filter(name__iregex=_name_pattern(filters.name))
        else:
            campaigns = campaigns.filter(name__iexact=filters.name)
    if filters.channel is not None:
        campaigns = campaigns.filter(Exists(Sending.objects.filter(campaign=OuterRef("pk"), channel=filters.channel)))
    if filters.after is not None:
        campaigns = campaigns.filter(created_at__gte=filters.after)
    if filters.before is not None:
        campaigns = campaigns.filter(created_at__lt=filters.before)
    return campaigns.order_by("-id")


def campaign_sendings(*, campaigns: Sequence[Campaign], channel: str | None = None) -> dict[int, list[Sending]]:
    """The sendings of a page of campaigns, in one query: {campaign id: [sendings, oldest first]}."""
    sendings = Sending.objects.filter(campaign__in=campaigns).order_by("id")
    if channel is not None:
        sendings = sendings.filter(channel=channel)
    grouped: dict[int, list[Sending]] = defaultdict(list)
    for sending in sendings:
        grouped[sending.campaign_id].append(sending)
    return grouped


def sending_get(*, account: Account, sending_id: int) -> Sending | None:
    if not 0 < sending_id < 2**63:
        return None
    return Sending.objects.select_related("campaign").filter(account=account, pk=sending_id).first()


# ---------------------------------------------------------------------------------------------
# Messages


def messages_by_public_ids(*, account: Account, public_ids: Sequence[str], channel: str) -> list[Message]:
    """The account's messages of `channel` among `public_ids`, in the order asked, with sending,
    contact and events loaded (three queries whatever the count)."""
    found = {
        message.public_id: message
        for message in Message.objects.filter(account=account, channel=channel, public_id__in=list(public_ids))
        .select_related("sending", "contact")
        .prefetch_related(Prefetch("events", queryset=Event.objects.order_by("date", "id")))
    }
    return [found[public_id] for public_id in public_ids if public_id in found]


# ---------------------------------------------------------------------------------------------
# Scheduled messages


def scheduled_messages(
    *,
    account: Account,
    guids: Sequence[str] | None = None,
    channel: str | None = None,
    sending_id: int | None = None,
) -> QuerySet[Message]:
    """The account's messages waiting for their date (status `scheduled`), oldest first. Named
    `guids` must all be such messages (120 "Invalid GUID" otherwise), so a typo never silently
    acts on nothing."""
    messages = Message.objects.filter(account=account, status=MessageStatus.SCHEDULED)
    if channel is not None:
        messages = messages.filter(channel=channel)
    if sending_id is not None:
        messages = messages.filter(sending_id=sending_id) if 0 < sending_id < 2**63 else messages.none()
    if guids is not None:
        wanted = set(guids)
        messages = messages.filter(public_id__in=wanted)
        found = set(messages.values_list("public_id", flat=True))
        if found != wanted:
            missing = sorted(wanted - found)[0]
            raise SendError(120, f"Invalid GUID: {missing} is not a scheduled message of this account.")
    return messages.select_related("sending").order_by("due_at", "id")


# ---------------------------------------------------------------------------------------------
# Events report

REPORT_COLUMNS: Final = (
    "campaignName",
    "campaignId",
    "sendingId",
    "contactId",
    "event",
    "phone",
    "email",
    "landline",
    "countryIso",
    "browser",
    "os",
    "url",
    "createdAt",
)


def report_custom_field_keys(*, account: Account) -> list[str]:
    return list(CustomField.objects.filter(account=account).order_by("key").values_list("key", flat=True))


@dataclass(frozen=True)
class ReportRow:
    contact_id: int | None
    event: str
    phone: str | None
    email: str | None
    landline: str | None
    country_iso: str | None
    browser: str
    os: str
    url: str
    created_at: datetime
    custom_fields: dict


def sending_event_rows(
    *,
    sending: Sending,
    before: datetime | None = None,
    after: datetime | None = None,
    with_custom_fields: bool = False,
) -> Iterator[ReportRow]:
    """The sending's events in date order, read through a server-side cursor REPORT_CHUNK_SIZE rows
    at a time, so a million-event report never sits in memory. A message whose contact was
    deleted still reports its own recipient as phone or email."""
    events = Event.objects.filter(sending=sending)
    if after is not None:
        events = events.filter(date__gte=after)
    if before is not None:
        events = events.filter(date__lt=before)
    columns = [
        "message__contact_id",
        "type",
        "message__contact__phone",
        "message__contact__email",
        "message__contact__landline",
        "message__contact__country_iso",
        "browser",
        "os",
        "url",
        "date",
        "message__recipient",
    ]
    if with_custom_fields:
        columns.append("message__contact__custom_fields")
    is_mail = sending.channel == "mailing"
    for row in events.order_by("date", "id").values_list(*columns).iterator(chunk_size=REPORT_CHUNK_SIZE):
        contact_id, event, phone, email, landline, country, browser, os_name, url, date, recipient = row[:11]
        if contact_id is None:
            phone, email = (None, recipient) if is_mail else (recipient, None)
        yield ReportRow(
            contact_id=contact_id,
            event=event,
            phone=phone,
            email=email,
            landline=landline,
            country_iso=country,
            browser=browser,
            os=os_name,
            url=url,
            created_at=date,
            custom_fields=(row[11] or {}) if with_custom_fields else {},
        )


# ---------------------------------------------------------------------------------------------
# Sending page (web UI)

TIMELINE_MAX_HOURS: Final = 72  # a sending that spans longer is charted per day
TIMELINE_MAX_DAYS: Final = 90  # and only its last 90 days


@dataclass(frozen=True)
class EventTimeline:
    unit: str  # "hour" or "day"
    buckets: list[datetime]  # every bucket from the first to the last, gaps included
    counts: dict[str, list[int]]  # event type -> one count per bucket


def sending_event_timeline(*, sending: Sending, tz: tzinfo) -> EventTimeline:
    """Events of the sending per hour (per day when they span more than three days), by type, in
    `tz`. Two queries: the span (two index probes on event_sending_date) and one grouped scan."""
    span = Event.objects.filter(sending=sending).aggregate(first=Min("date"), last=Max("date"))
    first, last = span["first"], span["last"]
    if first is None:
        return EventTimeline(unit="hour", buckets=[], counts={})
    unit = "hour" if last - first <= timedelta(hours=TIMELINE_MAX_HOURS) else "day"
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    events = Event.objects.filter(sending=sending)
    if unit == "day":
        first = max(first, last - timedelta(days=TIMELINE_MAX_DAYS))
        events = events.filter(date__gte=first)
    rows = (
        events.annotate(bucket=Trunc("date", unit, tzinfo=tz))
        .values_list("bucket", "type")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_bucket: dict[datetime, dict[str, int]] = defaultdict(dict)
    for bucket, event_type, n in rows:
        by_bucket[bucket][event_type] = n
    start = _truncate(first.astimezone(tz), unit)
    end = _truncate(last.astimezone(tz), unit)
    buckets = []
    moment = start
    while moment <= end:
        buckets.append(moment)
        # Step in UTC and re-truncate, so a daylight-saving change neither skips nor repeats a bucket.
        moment = _truncate((moment.astimezone(UTC) + step).astimezone(tz), unit)
    types = sorted({event_type for counts in by_bucket.values() for event_type in counts})
    counts = {event_type: [by_bucket.get(bucket, {}).get(event_type, 0) for bucket in buckets] for event_type in types}
    return EventTimeline(unit=unit, buckets=buckets, counts=counts)


def _truncate(moment: datetime, unit: str) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if unit == "day" else moment


def sending_messages(*, sending: Sending, recipient: str | None = None) -> QuerySet[Message]:
    """The sending's messages (to be paged by id, which message_sending_id serves); `recipient`
    narrows to one normalised recipient through message_account_recipient."""
    messages = Message.objects.filter(sending=sending)
    if recipient:
        messages = messages.filter(account_id=sending.account_id, recipient=recipient)
    return messages


def messages_with_events(messages: Sequence[Message]) -> list[Message]:
    """`messages` with their events loaded in one query (event_message_date)."""
    events: dict[int, list[Event]] = defaultdict(list)
    for event in Event.objects.filter(message__in=[m.pk for m in messages]).order_by("date", "id"):
        events[event.message_id].append(event)
    for message in messages:
        message.event_list = events.get(message.pk, [])
    return list(messages)
