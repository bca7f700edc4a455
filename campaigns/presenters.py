"""Sends, messages, campaigns, sendings, scheduled messages and the events report as the REST
API's JSON objects and CSV (the spec's samples)."""

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from campaigns.models import EVENT_COUNTERS, Campaign, Channel, Sending
from campaigns.selectors import REPORT_COLUMNS, ReportRow
from campaigns.services import RecipientResult, SendOutcome
from config.api import iso8601
from messaging.models import EventType, Message, MessageStatus

# ---------------------------------------------------------------------------------------------
# POST /sms, POST /mailing


def send_outcome_to_dict(outcome: SendOutcome, *, channel: str) -> dict:
    """The 202 / 207 body: campaignId, sendingId and one result per `to` item, in order."""
    return {
        "campaignId": outcome.campaign_id,
        "sendingId": outcome.sending_id,
        "result": [_result_to_dict(result, channel=channel) for result in outcome.results],
    }


def _result_to_dict(result: RecipientResult, *, channel: str) -> dict:
    if not result.accepted:
        error = result.error
        return {"accepted": False, "to": result.to, "error": {"code": error.code, "description": error.description}}
    data = {"accepted": True, "to": result.to, "id": result.message_id}
    if channel == Channel.SMS:
        data["parts"] = result.parts
        data["scheduledAt"] = iso8601(result.scheduled_at)
        data["expiresAt"] = iso8601(result.expires_at)
    else:
        data["scheduledAt"] = iso8601(result.scheduled_at)
    return data


# ---------------------------------------------------------------------------------------------
# GET /sms/<ID>


def sms_message_to_dict(message: Message, *, self_url: str) -> dict:
    """A message with its events, the contact's fields (`customFields`) and its link; events,
    sending and contact must be loaded with it."""
    events = list(message.events.all())
    types = {event.type for event in events}
    return {
        "id": message.public_id,
        "from": message.sender,
        "to": message.recipient,
        "message": message.body,
        "campaignId": message.sending.campaign_id or 0,
        "sendingId": message.sending_id,
        "isDelivered": message.status == MessageStatus.DELIVERED or EventType.DELIVERED in types,
        "isClicked": EventType.CLICKED in types,
        "events": [
            {
                "type": event.type,
                "date": iso8601(event.date),
                "isMobile": event.is_mobile,
                "browser": event.browser,
                "os": event.os,
            }
            for event in events
        ],
        "customFields": _contact_fields(message),
        "links": {"self": self_url},
    }


def _contact_fields(message: Message) -> dict:
    contact = message.contact
    if contact is None:
        return {"email": None, "phone": message.recipient, "name": None}
    fields = {"email": contact.email, "phone": contact.phone, "name": contact.name}
    for key, value in sorted((contact.custom_fields or {}).items()):
        fields.setdefault(key, value)
    return fields


# ---------------------------------------------------------------------------------------------
# GET /campaigns


def _money(value: Decimal) -> float:
    return float(value)


def sending_to_dict(sending: Sending, *, campaign_name: str | None, api_root: str) -> dict:
    return {
        "id": sending.pk,
        "campaignName": campaign_name,
        "status": sending.status,
        "channel": sending.channel,
        "total": sending.total,
        "processed": sending.processed,
        "totalSmsParts": sending.total_sms_parts,
        "cost": _money(sending.cost),
        "currency": sending.currency,
        "tags": sending.tags,
        "scheduledAt": iso8601(sending.scheduled_at),
        "expiresAt": iso8601(sending.expires_at),
        "startedAt": iso8601(sending.started_at),
        "finishedAt": iso8601(sending.finished_at),
        "createdAt": iso8601(sending.created_at),
        "updatedAt": iso8601(sending.updated_at),
        "events": {counter: getattr(sending, counter) for counter in EVENT_COUNTERS},
        "links": {
            "self": f"{api_root}/sendings/{sending.pk}",
            "eventsReport": f"{api_root}/sendings/{sending.pk}/reports/events",
        },
    }


def campaign_to_dict(campaign: Campaign, *, sendings: list[Sending], api_root: str) -> dict:
    """A campaign with its sendings. A campaign has no update date of its own: `updatedAt` is its
    latest sending's, or its creation date."""
    updated = max([campaign.created_at, *(sending.updated_at for sending in sendings)])
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "type": campaign.type,
        "createdAt": iso8601(campaign.created_at),
        "updatedAt": iso8601(updated),
        "links": {
            "self": f"{api_root}/campaigns/{campaign.pk}",
            "sendings": f"{api_root}/campaigns/{campaign.pk}/sendings",
        },
        "sendings": {
            "data": [sending_to_dict(sending, campaign_name=campaign.name, api_root=api_root) for sending in sendings]
        },
    }


# ---------------------------------------------------------------------------------------------
# /scheduled

SCHEDULED_TYPES: Final = {Channel.SMS: "SMS", Channel.MAILING: "MAILING"}


def _scheduled_date(value: datetime | None) -> str | None:
    """The section's own format, `2017-09-18 10:49:12`, in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


def scheduled_item_to_dict(message: Message) -> dict:
    return {
        "guid": message.public_id,
        "type": SCHEDULED_TYPES.get(message.channel, message.channel.upper()),
        "sending_id": message.sending_id,
        "created_at": _scheduled_date(message.created_at),
        "updated_at": _scheduled_date(message.updated_at),
        "scheduled_at": _scheduled_date(message.scheduled_at or message.due_at),
    }


def scheduled_detail_to_dict(message: Message) -> dict:
    """One scheduled message with its content (the section's "Single GUID" answer)."""
    content = {"to": message.recipient, "from": message.sender}
    if message.channel == Channel.MAILING:
        content["fromName"] = message.options.get("from_name", "")
        content["subject"] = message.subject
    else:
        content["encoding"] = message.encoding
    content["message"] = message.body
    content["campaignId"] = message.sending.campaign_id or 0
    content["sendingId"] = message.sending_id
    item = scheduled_item_to_dict(message)
    return {
        "guid": item["guid"],
        "type": item["type"],
        "content": content,
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "scheduled_at": item["scheduled_at"],
    }


# ---------------------------------------------------------------------------------------------
# Events report (CSV)

_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
CSV_ROWS_PER_CHUNK: Final = 500


def csv_cell(value: object) -> str:
    """A cell as text; one a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class _Line:
    """A file-like object for csv.writer that hands back what it is given."""

    def write(self, value: str) -> str:
        return value


def events_report_csv(
    rows: Iterable[ReportRow], *, sending: Sending, custom_field_keys: list[str] | None = None
) -> Iterator[str]:
    """The report as CSV text pieces (header first), CSV_ROWS_PER_CHUNK rows per piece."""
    writer = csv.writer(_Line())
    keys = custom_field_keys or []
    campaign_name = sending.campaign.name if sending.campaign is not None else ""
    campaign_id = sending.campaign_id or 0
    yield writer.writerow([*REPORT_COLUMNS, *(csv_cell(key) for key in keys)])
    lines: list[str] = []
    for row in rows:
        cells = [
            campaign_name,
            campaign_id,
            sending.pk,
            row.contact_id,
            row.event,
            row.phone,
            row.email,
            row.landline,
            row.country_iso,
            row.browser,
            row.os,
            row.url,
            iso8601(row.created_at),
        ]
        cells.extend(row.custom_fields.get(key) for key in keys)
        lines.append(writer.writerow([csv_cell(cell) for cell in cells]))
        if len(lines) >= CSV_ROWS_PER_CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
