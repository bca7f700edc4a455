"""The SMS channel (and landing SMS, an SMS with a personal {LAND_URL}): what the pipeline asks a channel.

- `clean(request)`: the SMS rules (message 104, sender 106/107/422, encoding 113, parts 110, dates,
  availableTimes 108, notification URLs 109, campaign 126, `sub`, {OTP_CODE}), literal links
  shortened once per send, the template compiled once; refusals before anything is written.
- `render(prepared, targets)`: each recipient's body (contact values, `sub`, {UNSUB_URL},
  {LAND_URL}, form links, the one-time code masked), measured in parts (113 for a character the
  encoding cannot carry, 105/110 for too many parts).
- `price(prepared, targets)`: parts x the account's price of the destination country, plus the
  certification fee; nothing for a message a rule rejected.
- `sending_fields` / `message`: the Sending's and each Message's columns and options.

Group sends render rows in campaigns.fanout (`_render_rows`) with the same template, encoding and
price table, without one object per recipient.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from django.utils import timezone

from accounts.models import Account
from campaigns.errors import SendError
from campaigns.outbox import NewMessage, public_ids_generate
from campaigns.personalisation import contact_values
from campaigns.pricing import certification_fee, sms_price_table
from campaigns.sending.audience import recipients_list
from campaigns.sending.persist import message_new
from campaigns.sending.request import SendRequest, Target
from campaigns.sending.validate import (
    OTP_RESERVED,
    SUPPORTED_RESERVED,
    available_times_clean,
    campaign_name_clean,
    expiry_check,
    form_links_check,
    invalid,
    message_status,
    notification_urls_clean,
    otp_config_clean_for,
    sub_clean,
    template_compile,
)
from compliance.protocol import Purpose
from content.email import form_ids_of, personal_links
from content.links import form_signer
from messaging import encoding as sms_encoding
from messaging.rendering import CompiledTemplate
from otp.services import OTP_SENTINEL, OtpConfig, otp_text_mask
from tracking.links import unsubscribe_url

MAX_PARTS: Final = sms_encoding.MAX_PARTS
WITH_PARTS: Final = True  # the answer gives each message's parts

_NUMERIC_SENDER = re.compile(r"\+?\d+")
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 .&_-]+")


def sms_sender_clean(raw: Any) -> str:
    """`from`: up to 15 digits (106 missing, 107 longer) or up to 11 letters, digits, spaces and
    `. & _ -` (107 longer, 422 other characters)."""
    if raw is None or isinstance(raw, bool) or not isinstance(raw, str | int) or not str(raw).strip():
        raise SendError(106, field="sender")
    text = str(raw).strip()
    if _NUMERIC_SENDER.fullmatch(text):
        if len(text.lstrip("+")) > 15:
            raise SendError(107, "Sender too long: a numeric sender has at most 15 digits.", field="sender")
        return text.lstrip("+")
    if len(text) > 11:
        raise SendError(107, "Sender too long: an alphanumeric sender has at most 11 characters.", field="sender")
    if not _ALPHANUMERIC_SENDER.fullmatch(text):
        raise invalid("The from may only contain letters, digits, spaces and . & _ -", field="sender")
    return text


def encoding_clean(raw: Any) -> str:
    if raw is None or raw == "":
        return sms_encoding.DEFAULT_ENCODING
    value = raw.strip().lower() if isinstance(raw, str) else raw
    if value not in sms_encoding.ENCODINGS:
        raise SendError(113, "Invalid coding: the encoding must be gsm, gsm-pt or utf-16.", field="encoding")
    return value


def parts_clean(raw: Any, *, limit: int = sms_encoding.MAX_PARTS) -> int:
    if raw is None:
        return 1
    if isinstance(raw, bool):
        raise SendError(110, field="parts")
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int) or not 1 <= raw <= limit:
        raise SendError(
            110,
            f"Exceeded maximum parts allowed or incorrect number of parts: parts must be 1 to {limit}.",
            field="parts",
        )
    return raw


@dataclass(frozen=True)
class SmsRequest:
    """The fields every SMS send validates the same way, API or group send."""

    sender: str
    encoding: str
    max_parts: int
    windows: Any
    template: CompiledTemplate
    now: datetime


def sms_request_clean(
    *,
    message: Any,
    sender: Any,
    encoding: Any,
    parts: Any,
    schedule_at: datetime | None,
    expires_at: datetime | None,
    available_times: Any,
    account: Account | None = None,
    parts_limit: int = MAX_PARTS,
    supported_reserved: frozenset[str] = SUPPORTED_RESERVED,
) -> SmsRequest:
    if not isinstance(message, str) or not message.strip():
        raise SendError(104, field="message")
    cleaned_sender = sms_sender_clean(sender)
    cleaned_encoding = encoding_clean(encoding)
    max_parts = parts_clean(parts, limit=parts_limit)
    now = timezone.now()
    expiry_check(schedule_at=schedule_at, expires_at=expires_at, now=now)
    windows = available_times_clean(available_times)
    if account is not None:
        message = _sms_links_shorten(account=account, message=message)
    template = template_compile(message, field="message", supported=supported_reserved)
    return SmsRequest(cleaned_sender, cleaned_encoding, max_parts, windows, template, now)


def _sms_links_shorten(*, account: Account, message: str) -> str:
    """Literal links of the message replaced with their short links (tracking.services)."""
    from tracking.services import sms_links_shorten

    return sms_links_shorten(account=account, text=message)


def sms_sending_options(
    request: SmsRequest, *, source: str, split_parts: bool, trans: bool, flash: bool, certified: bool
) -> dict[str, Any]:
    return {
        "source": source,
        "sender": request.sender,
        "encoding": request.encoding,
        "parts": request.max_parts,
        "split_parts": split_parts,
        "trans": trans,
        "flash": flash,
        "certified": certified,
        "available_times": request.windows,
        "variables": sorted(request.template.variables),
    }


# ---------------------------------------------------------------------------------------------
# The channel, for list sends


@dataclass(frozen=True)
class SmsPrepared:
    request: SendRequest
    sms: SmsRequest
    recipients: list[Any]
    notification_urls: list[str]
    campaign_name: str | None
    tags: list[str]
    subs: list[dict] | None
    status: str
    due_at: datetime
    otp: OtpConfig | None
    purpose: str
    land_url: Callable[[str], str] | None


def clean(request: SendRequest) -> SmsPrepared:
    """Every refusal of POST /sms (and /landingsms) that needs no recipient, in the API's order."""
    account = request.account
    sms = sms_request_clean(
        message=request.text, sender=request.sender, encoding=request.encoding, parts=request.parts,
        schedule_at=request.schedule_at, expires_at=request.expires_at, available_times=request.available_times,
        account=account, parts_limit=request.parts_limit or MAX_PARTS,
        supported_reserved=request.supported_reserved or SUPPORTED_RESERVED | OTP_RESERVED,
    )  # fmt: skip
    form_links_check(account=account, templates=[sms.template])
    recipients = recipients_list(request.recipients)
    notification_urls = notification_urls_clean(request.notification_url, recipients=len(recipients))
    campaign_name, tags = campaign_name_clean(request.campaign_name, request.tags)
    subs = sub_clean(request.sub, recipients=len(recipients))
    status, due_at = message_status(
        schedule_at=request.schedule_at, expires_at=request.expires_at, windows=sms.windows, now=sms.now
    )
    otp = otp_config_clean_for(template=sms.template, raw=request.otp_config, status=status)
    return SmsPrepared(
        request=request, sms=sms, recipients=recipients, notification_urls=notification_urls,
        campaign_name=campaign_name, tags=tags, subs=subs, status=status, due_at=due_at, otp=otp,
        purpose=Purpose.TRANSACTIONAL if otp is not None else request.purpose, land_url=request.land_url,
    )  # fmt: skip


def render(prepared: SmsPrepared, targets: Sequence[Target]) -> None:
    """Each accepted target's body and parts; a refusal (113, 105, 110) for one that cannot go."""
    sms, request = prepared.sms, prepared.request
    template, encoding, max_parts = sms.template, sms.encoding, sms.max_parts
    otp_length = prepared.otp.length if prepared.otp else None
    subs, land_url = prepared.subs, prepared.land_url
    valid = [target for target in targets if target.error is None]
    ids = iter(public_ids_generate(len(valid)))
    needs_unsubscribe = "UNSUB_URL" in template.reserved
    needs_landing = land_url is not None and "LAND_URL" in template.reserved
    form_ids = form_ids_of(template)
    signer = form_signer() if form_ids else None
    for index, target in enumerate(targets):
        if target.error is not None:
            continue
        target.public_id = next(ids)
        contact = target.contact or {"phone": target.key, "country_iso": target.country}
        values = contact_values(contact)
        if subs is not None:
            values.update(subs[index])
        if needs_unsubscribe:
            values["UNSUB_URL"] = unsubscribe_url(target.public_id)
        if needs_landing:
            values["LAND_URL"] = land_url(target.public_id)
        if form_ids:
            values.update(personal_links(form_ids, public_id=target.public_id, signer=signer))
        if otp_length:
            values["OTP_CODE"] = OTP_SENTINEL
        body = template.render(values)
        if request.trans:
            body = sms_encoding.translate(body)
        if otp_length:
            # Masked before measuring: the mask has the code's length and GSM-7 characters, as the code.
            body, offsets = otp_text_mask(body, length=otp_length)
            target.otp = {"body": offsets}
        measured = sms_encoding.measure(body, encoding)
        if measured.unsupported:
            characters = " ".join(measured.unsupported)
            target.error = SendError(
                113,
                f"Invalid coding: {encoding} cannot encode {characters}; use encoding utf-16 or trans=1.",
                field="message",
            )
            continue
        code = sms_encoding.check_parts(measured, max_parts)
        if code is not None:
            target.error = SendError(code, field="parts" if code == 110 else "message")
            continue
        target.body, target.parts = body, measured.parts


def price(prepared: SmsPrepared, targets: Sequence[Target]) -> str:
    """Each target's cost (parts x its country's price + the certification fee; 0 when a rule
    rejected it); returns the currency."""
    prices = sms_price_table(account=prepared.request.account)
    fee = certification_fee(certified=prepared.request.certified)
    for target in targets:
        target.cost = Decimal(0) if target.skip is not None else prices.cost(target.country, target.parts) + fee
    return prices.currency


def sending_fields(prepared: SmsPrepared, targets: Sequence[Target]) -> dict[str, Any]:
    request = prepared.request
    return {
        "total_sms_parts": sum(target.parts for target in targets if target.skip is None),
        "expires_at": request.expires_at,
        "options": {
            **sms_sending_options(
                prepared.sms, source=request.source, split_parts=request.split_parts, trans=request.trans,
                flash=request.flash, certified=request.certified,
            ),
            "otp_config": request.otp_config,
        },
    }  # fmt: skip


def message(
    prepared: SmsPrepared, target: Target, *, sending_id: int, status: str, due_at: datetime, options: dict[str, Any]
) -> NewMessage:
    return message_new(
        prepared.request,
        target,
        sending_id=sending_id,
        sender=prepared.sms.sender,
        encoding=prepared.sms.encoding,
        options=options,
        status=status,
        due_at=due_at,
    )


def message_options(prepared: SmsPrepared) -> dict[str, Any]:
    return {"flash": prepared.request.flash, "split_parts": prepared.request.split_parts}


# ---------------------------------------------------------------------------------------------
# The channel, for group sends (the messages are written by the fan-out chunks)


@dataclass(frozen=True)
class SmsPlan:
    campaign_name: str | None
    tags: list[str]
    options: dict[str, Any]  # the Sending's options, with the fan-out's own
    template: CompiledTemplate
    encoding: str


def plan_clean(request: SendRequest) -> SmsPlan:
    """A group send validated like POST /sms (the same order of refusals)."""
    account = request.account
    sms = sms_request_clean(
        message=request.text, sender=request.sender, encoding=request.encoding, parts=request.parts,
        schedule_at=request.schedule_at, expires_at=request.expires_at, available_times=request.available_times,
        account=account,
    )  # fmt: skip
    form_links_check(account=account, templates=[sms.template])
    notification = notification_urls_clean(request.notification_url, recipients=1)[0]
    campaign_name, tags = campaign_name_clean(request.campaign_name, request.tags)
    flash, split_parts = request.flash, request.split_parts
    options = {
        **sms_sending_options(
            sms, source="group", split_parts=split_parts, trans=request.trans, flash=flash, certified=request.certified
        ),
        "notification_url": notification,
        "fanout": {
            "group_ids": None,  # set by the pipeline once the groups are checked
            "message": sms.template.source,  # with its literal links shortened
            "message_options": {"flash": flash, "split_parts": split_parts},
        },
    }
    return SmsPlan(campaign_name, tags, options, sms.template, sms.encoding)


def cheapest_per_recipient(plan: SmsPlan, *, account: Account) -> Decimal:
    """The least one recipient can cost (the cheapest price x the fewest parts), for the balance check."""
    minimum_parts = max(1, sms_encoding.measure(plan.template.render({}), plan.encoding).parts)
    return sms_price_table(account=account).cheapest * minimum_parts
