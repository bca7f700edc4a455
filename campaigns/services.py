"""Sending SMS and email: validation with the spec's error codes, campaigns by name, sendings,
one message per recipient, the balance debit, group sends and scheduled-message changes.

The REST API (campaigns.api), the web UI and the admin call these functions, so every rule has
one implementation. A rule violation raises `SendError(code, description)` with the spec's code
(102-126, or 422 for a malformed field); the API answers it in the error envelope. Writes run in
one transaction, so a refused send changes nothing: no contact, campaign, sending, message or
debit is left behind.

Decisions where the spec is silent:
- Recipients are refused one by one with code 102 and a description saying why: "No valid
  recipients" (malformed), "No valid recipients: the recipient is on the blacklist", "No valid
  recipients: duplicate recipient" (the same normalised address twice in one request; the first
  one is sent). 102 is the only recipient code of the spec's table, so clients that switch on
  codes keep working.
- A rendered SMS holding characters its encoding cannot carry is refused with 113, naming them,
  rather than sent with "?" in their place (use encoding utf-16 or trans=1).
- Without campaignName a send has no campaign: `campaignId` is 0, as the spec's event
  notifications say of such sends.
- A scheduleDate in the past sends at once; an expirationDate not after now and after the
  scheduleDate is refused (119).
- Placeholders of features not built yet ({LAND_URL} outside landing SMS) are refused (422)
  instead of reaching a phone as literal text; {OTP_CODE} is filled in POST /sms and /mailing
  (below) and refused in group sends and email subjects; {UNSUB_URL} and [unsubscribe_link] are
  filled with the message's signed unsubscribe link (campaigns.fanout.unsubscribe_url);
  {FORM_<id>} (and [form_<id>] in email) with the recipient's personal form link
  (content.links), 422 for a form the account does not have.
- Email bodies go through content.email (custom links, CSS inlined, tracking, plain-text
  alternative in the message's options["text_body"]).
- {OTP_CODE} (with `otpConfig`, otp.services): one code per accepted recipient, issued at accept
  time in the send's transaction (a refused send leaves no code). The stored body holds the code
  masked and the message's options hold it encrypted until dispatch (otp.services). A recipient
  over the OTP rate limits is refused alone with 429 (the answer is 429 when none is accepted,
  with Retry-After), one with a pending code under rejectIfPendingCode with 422. A send that
  would not go at once (scheduleDate, availableTimes) cannot carry a code that expires in
  minutes: 422. An otpConfig without {OTP_CODE} in the text is ignored.
- Values from the contact are HTML-escaped in an email body; `sub` values are the caller's own
  and are inserted as given.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from django.core.exceptions import EmptyResultSet, ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import Account, VerifiedSender
from accounts.services import verified_sender_email_clean
from campaigns.fanout import (
    CONTACT_VALUE_COLUMNS,
    NewMessage,
    account_credit,
    account_debit,
    contact_deletes_fence,
    contact_values,
    dispatch_kick_on_commit,
    fanout_plan,
    html_escaped,
    mail_options,
    messages_insert,
    public_ids_generate,
    unsubscribe_url,
)
from campaigns.models import Campaign, Channel, Sending, SendingStatus
from campaigns.pricing import certification_fee, phone_country, sms_price_table
from config.api import ERRORS
from contacts.models import BlacklistEntry, BlacklistType, Contact, Group
from contacts.normalize import InvalidRecipient, normalise_email, normalise_phone
from content.email import TEXT_BODY_OPTION, EmailTemplate, Signers, email_html_prepare, form_ids_of, personal_links
from content.links import form_signer
from messaging import encoding as sms_encoding
from messaging.models import Message, MessageStatus
from messaging.rendering import CompiledTemplate, UnknownFilter, compile_template
from messaging.scheduling import available_times_parse, message_initial_state
from otp.services import (
    OTP_OPTION,
    OTP_SENTINEL,
    OtpConfig,
    OtpError,
    otp_config_clean,
    otp_issue_for_send,
    otp_option_seal,
    otp_text_mask,
)

MAX_RECIPIENTS: Final = 10_000  # per API request; larger audiences go through group sends
MAX_PARTS: Final = sms_encoding.MAX_PARTS
MAX_TAGS: Final = 50
MAX_ATTACHMENTS: Final = 10
MAX_ATTACHMENTS_BYTES: Final = 10 * 1024 * 1024  # decoded, all attachments of one request together
MAX_SUBJECT_LENGTH: Final = 998  # RFC 5322 line limit
MAX_URL_LENGTH: Final = 2000
UNSUBSCRIBE_LINK: Final = "[unsubscribe_link]"
UNSUBSCRIBE_PLACEHOLDER: Final = "{UNSUB_URL}"
SUPPORTED_RESERVED: Final = frozenset({"UNSUB_URL"})
OTP_RESERVED: Final = frozenset({"OTP_CODE"})  # POST /sms message and POST /mailing body only

NOT_VALID = "No valid recipients"
BLACKLISTED = "No valid recipients: the recipient is on the blacklist"
DUPLICATE = "No valid recipients: duplicate recipient"


class SendError(Exception):
    """A send refused with one of the spec's codes (422: a malformed field)."""

    def __init__(self, code: int, description: str | None = None, *, retry_after: int | None = None):
        self.code = code
        self.description = description or ERRORS.get(code, (400, "Bad request"))[1]
        self.retry_after = retry_after  # seconds, for 429
        super().__init__(self.description)


def _invalid(description: str) -> SendError:
    return SendError(422, description)


# ---------------------------------------------------------------------------------------------
# Parameter rules (shared by the API, the UI and group sends)

_NUMERIC_SENDER = re.compile(r"\+?\d+")
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 .&_-]+")


def sms_sender_clean(raw: Any) -> str:
    """`from`: up to 15 digits (106 missing, 107 longer) or up to 11 letters, digits, spaces and
    `. & _ -` (107 longer, 422 other characters)."""
    if raw is None or isinstance(raw, bool) or not isinstance(raw, str | int) or not str(raw).strip():
        raise SendError(106)
    text = str(raw).strip()
    if _NUMERIC_SENDER.fullmatch(text):
        if len(text.lstrip("+")) > 15:
            raise SendError(107, "Sender too long: a numeric sender has at most 15 digits.")
        return text.lstrip("+")
    if len(text) > 11:
        raise SendError(107, "Sender too long: an alphanumeric sender has at most 11 characters.")
    if not _ALPHANUMERIC_SENDER.fullmatch(text):
        raise _invalid("The from may only contain letters, digits, spaces and . & _ -")
    return text


def encoding_clean(raw: Any) -> str:
    if raw is None or raw == "":
        return sms_encoding.DEFAULT_ENCODING
    value = raw.strip().lower() if isinstance(raw, str) else raw
    if value not in sms_encoding.ENCODINGS:
        raise SendError(113, "Invalid coding: the encoding must be gsm, gsm-pt or utf-16.")
    return value


def parts_clean(raw: Any, *, limit: int = sms_encoding.MAX_PARTS) -> int:
    if raw is None:
        return 1
    if isinstance(raw, bool):
        raise SendError(110)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int) or not 1 <= raw <= limit:
        raise SendError(
            110,
            f"Exceeded maximum parts allowed or incorrect number of parts: parts must be 1 to {limit}.",
        )
    return raw


def expiry_check(*, schedule_at: datetime | None, expires_at: datetime | None, now: datetime) -> None:
    if expires_at is None:
        return
    if expires_at <= now:
        raise SendError(119, "Invalid expiration date: it has already passed.")
    if schedule_at is not None and expires_at <= schedule_at:
        raise SendError(119, "Invalid expiration date: it must be after the scheduleDate.")


_url_validator = URLValidator(schemes=["http", "https"])


def _url_valid(value: Any) -> bool:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_URL_LENGTH:
        return False
    try:
        _url_validator(value.strip())
    except ValidationError:
        return False
    return True


def notification_urls_clean(raw: Any, *, recipients: int) -> list[str]:
    """One notification URL per recipient ("" for none): a string applies to all, an array must
    have as many items as recipients (109 otherwise, or for a URL that is not http(s))."""
    if raw is None or raw == "":
        return [""] * recipients
    if isinstance(raw, list):
        if len(raw) != recipients:
            raise SendError(109, "Notification URL incorrect: notificationUrl must have one URL per recipient.")
        if not all(_url_valid(url) for url in raw):
            raise SendError(109)
        return [url.strip() for url in raw]
    if not _url_valid(raw):
        raise SendError(109)
    return [raw.strip()] * recipients


def campaign_name_clean(name: Any, tags: Any) -> tuple[str | None, list[str]]:
    """(campaignName, tags): an empty name, or tags without a name, is 126."""
    if tags is not None and not isinstance(tags, list):
        raise _invalid("The tags must be an array.")
    clean_tags: list[str] = []
    for index, tag in enumerate(tags or []):
        if isinstance(tag, bool) or not isinstance(tag, str | int) or not str(tag).strip():
            raise _invalid(f"The tags.{index} must be a non-empty string.")
        if len(str(tag).strip()) > 100:
            raise _invalid(f"The tags.{index} may not be greater than 100 characters.")
        if str(tag).strip() not in clean_tags:
            clean_tags.append(str(tag).strip())
    if len(clean_tags) > MAX_TAGS:
        raise _invalid(f"The tags may not have more than {MAX_TAGS} items.")
    if name is None:
        if clean_tags:
            raise SendError(126, "Empty campaign name: campaignName is required when tags are given.")
        return None, []
    if isinstance(name, bool) or not isinstance(name, str | int) or not str(name).strip():
        raise SendError(126)
    text = str(name).strip()
    if len(text) > 255:
        raise _invalid("The campaignName may not be greater than 255 characters.")
    return text, clean_tags


def sub_clean(raw: Any, *, recipients: int) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != recipients:
        raise _invalid("The sub must be an array with one object per recipient.")
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _invalid(f"The sub.{index} must be an object.")
        for key, value in item.items():
            if value is not None and not isinstance(value, str | int | float | bool):
                raise _invalid(f"The sub.{index}.{key} must be a string or a number.")
    return raw


def available_times_clean(raw: Any) -> list[dict[str, Any]]:
    """`availableTimes` checked with the dispatcher's own parser (messaging.scheduling), so what is
    accepted here is exactly what the release schedule understands; 108 otherwise. Stored as
    given on the sending."""
    try:
        available_times_parse(raw)
    except ValueError as exc:
        raise SendError(108, f"No valid Datetime for send: {exc}") from exc
    return list(raw or [])


def template_compile(text: str, *, field: str, supported: frozenset[str] = SUPPORTED_RESERVED) -> CompiledTemplate:
    try:
        template = compile_template(text)
    except UnknownFilter as exc:
        raise _invalid(f"The {field} has an unknown filter: {exc}") from exc
    unsupported = sorted(name for name in template.reserved if name not in supported and not name.startswith("FORM_"))
    if "OTP_CODE" in unsupported:
        raise _invalid(
            f"The {field} cannot use {{OTP_CODE}} here: one-time codes go in the message of POST /sms "
            "or the body of POST /mailing."
        )
    if unsupported:
        raise _invalid(f"The {field} uses {{{unsupported[0]}}}, which this platform does not support yet.")
    return template


def _recipients_list(raw: Any) -> list[Any]:
    if isinstance(raw, str | int) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise SendError(102)
    if len(raw) > MAX_RECIPIENTS:
        raise _invalid(f"The to may not have more than {MAX_RECIPIENTS} items.")
    return raw


def _shown(raw: Any) -> str:
    return str(raw) if isinstance(raw, str | int | float) and not isinstance(raw, bool) else str(raw)[:100]


def _message_status(
    *, schedule_at: datetime | None, expires_at: datetime | None = None, windows: list, now: datetime
) -> tuple[str, datetime]:
    return message_initial_state(now=now, scheduled_at=schedule_at, expires_at=expires_at, available_times=windows)


# ---------------------------------------------------------------------------------------------
# Campaigns


def campaign_get_or_create(*, account: Account, name: str, tags: Sequence[str] = ()) -> Campaign:
    """The account's campaign called `name` (created if new); `tags` are added to its tags."""
    campaign = Campaign.objects.filter(account=account, name=name).first()
    if campaign is None:
        try:
            with transaction.atomic():
                campaign = Campaign.objects.create(account=account, name=name, tags=list(tags))
        except IntegrityError:  # created meanwhile by a concurrent send
            campaign = Campaign.objects.get(account=account, name=name)
    missing = [tag for tag in tags if tag not in campaign.tags]
    if missing:
        campaign.tags = [*campaign.tags, *missing]
        campaign.save(update_fields=["tags"])
    return campaign


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class RecipientResult:
    to: str
    accepted: bool
    message_id: str | None = None
    parts: int | None = None
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    error: SendError | None = None


@dataclass(frozen=True)
class SendOutcome:
    campaign_id: int  # 0 without a campaign
    sending_id: int
    results: list[RecipientResult]

    @property
    def all_accepted(self) -> bool:
        return all(result.accepted for result in self.results)


@dataclass
class _Target:
    """One `to` item on its way to becoming a message."""

    raw: Any
    key: str | None = None  # normalised phone or email
    country: str | None = None
    error: SendError | None = None
    contact: dict[str, Any] | None = None
    public_id: str = ""
    body: str = ""
    subject: str = ""
    parts: int = 1
    cost: Decimal = Decimal(0)
    unsubscribe: str = ""
    notification_url: str = ""
    otp: dict[str, Any] | None = None  # where {OTP_CODE} is masked, then sealed with the code
    text_body: str = ""


def _mark_blacklisted_and_duplicates(*, account: Account, targets: list[_Target], type: str) -> None:
    keys = {target.key for target in targets if target.error is None}
    listed = set(
        BlacklistEntry.objects.filter(account=account, type=type, recipient__in=keys).values_list(
            "recipient", flat=True
        )
    )
    seen: set[str] = set()
    for target in targets:
        if target.error is not None:
            continue
        if target.key in listed:
            target.error = SendError(102, BLACKLISTED)
        elif target.key in seen:
            target.error = SendError(102, DUPLICATE)
        else:
            seen.add(target.key)


_CONTACT_COLUMNS = ("id", *CONTACT_VALUE_COLUMNS, "custom_fields")


def _contacts_match(*, account: Account, column: str, targets: list[_Target]) -> None:
    """Attach each target's existing contact (one query for all).

    Called inside the send's transaction: the fence keeps a concurrent contact delete from
    committing between this read and the message insert (Message.contact has no FK trigger)."""
    contact_deletes_fence(account.pk)
    keys = [target.key for target in targets if target.error is None]
    found = {
        row[column]: row
        for row in Contact.objects.filter(account=account, **{f"{column}__in": keys}).values(*_CONTACT_COLUMNS)
    }
    for target in targets:
        if target.error is None:
            target.contact = found.get(target.key)


def _contacts_create_missing(*, account: Account, column: str, targets: list[_Target]) -> None:
    """Create the contacts the accepted targets lack (one INSERT), then read their ids (one query).

    ignore_conflicts makes a contact created meanwhile by a concurrent send a match, not an error.
    """
    missing = {target.key: target for target in targets if target.contact is None}
    if not missing:
        return
    Contact.objects.bulk_create(
        (
            Contact(account=account, **{column: key}, country_iso=target.country if column == "phone" else None)
            for key, target in missing.items()
        ),
        ignore_conflicts=True,
    )
    ids = dict(Contact.objects.filter(account=account, **{f"{column}__in": list(missing)}).values_list(column, "id"))
    for key, target in missing.items():
        target.contact = {"id": ids.get(key), column: key}


def _otp_config_clean(*, template: CompiledTemplate, raw: Any, status: str) -> OtpConfig | None:
    """The otpConfig of a text with {OTP_CODE} (None without one: otpConfig is then ignored)."""
    if "OTP_CODE" not in template.reserved:
        return None
    if status == MessageStatus.SCHEDULED:
        raise _invalid(
            "A message with {OTP_CODE} is sent at once: a code expires within minutes, so it cannot wait for a "
            "scheduleDate or availableTimes."
        )
    try:
        return otp_config_clean(raw, prefix="otpConfig.")
    except OtpError as exc:
        raise _invalid(exc.description) from exc


def _otp_codes_issue(*, account: Account, targets: list[_Target], config: OtpConfig) -> None:
    """One code per target still accepted, sealed into its `otp`. Inside the send's transaction,
    so a send refused later leaves no code behind."""
    for target in targets:
        if target.error is not None or target.otp is None:
            continue
        try:
            code = otp_issue_for_send(account=account, recipient=target.key, config=config)
        except OtpError as exc:
            target.error = SendError(exc.code, exc.description, retry_after=exc.retry_after)
            continue
        target.otp = otp_option_seal(code=code, offsets=target.otp)


def _with_otp(options: dict[str, Any], target: _Target) -> dict[str, Any]:
    return {**options, OTP_OPTION: target.otp} if target.otp else options


def _raise_first_error(targets: list[_Target]) -> None:
    for target in targets:
        if target.error is not None:
            raise target.error
    raise SendError(102)


# ---------------------------------------------------------------------------------------------
# SMS


@dataclass(frozen=True)
class _SmsRequest:
    """The fields every SMS send validates the same way, API or group send."""

    sender: str
    encoding: str
    max_parts: int
    windows: Any
    template: CompiledTemplate
    now: datetime


def _sms_request_clean(
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
) -> _SmsRequest:
    if not isinstance(message, str) or not message.strip():
        raise SendError(104)
    cleaned_sender = sms_sender_clean(sender)
    cleaned_encoding = encoding_clean(encoding)
    max_parts = parts_clean(parts, limit=parts_limit)
    now = timezone.now()
    expiry_check(schedule_at=schedule_at, expires_at=expires_at, now=now)
    windows = available_times_clean(available_times)
    if account is not None:
        message = _sms_links_shorten(account=account, message=message)
    template = template_compile(message, field="message", supported=supported_reserved)
    return _SmsRequest(cleaned_sender, cleaned_encoding, max_parts, windows, template, now)


def _sms_links_shorten(*, account: Account, message: str) -> str:
    """Literal links of the message replaced with their short links (tracking.services)."""
    from tracking.services import sms_links_shorten  # tracking builds on this module

    return sms_links_shorten(account=account, text=message)


def _sms_sending_options(
    request: _SmsRequest, *, source: str, split_parts: bool, trans: bool, flash: bool, certified: bool
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


def sms_send(
    *,
    account: Account,
    message: Any,
    to: Any,
    sender: Any,
    encoding: Any = None,
    schedule_at: datetime | None = None,
    expires_at: datetime | None = None,
    parts: Any = None,
    split_parts: bool = False,
    notification_url: Any = None,
    trans: bool = False,
    campaign_name: Any = None,
    tags: Any = None,
    certified: bool = False,
    sub: Any = None,
    flash: bool = False,
    available_times: Any = None,
    otp_config: dict | None = None,
    channel: str = Channel.SMS,
    parts_limit: int = MAX_PARTS,
    land_url: Callable[[str], str] | None = None,
    supported_reserved: frozenset[str] = SUPPORTED_RESERVED | OTP_RESERVED,
) -> SendOutcome:
    """POST /sms: one message per valid recipient, priced per part (plus the certification fee when
    `certified`) and paid from the balance. Landing SMS (tracking.services.landing_sms_send) comes
    through here too, on its own `channel`, with `land_url(public id)` giving each recipient's {LAND_URL}."""
    request = _sms_request_clean(
        message=message, sender=sender, encoding=encoding, parts=parts, schedule_at=schedule_at,
        expires_at=expires_at, available_times=available_times, account=account, parts_limit=parts_limit,
        supported_reserved=supported_reserved,
    )  # fmt: skip
    sender, encoding, max_parts, now = request.sender, request.encoding, request.max_parts, request.now
    windows, template = request.windows, request.template
    form_links_check(account=account, templates=[template])
    recipients = _recipients_list(to)
    notification_urls = notification_urls_clean(notification_url, recipients=len(recipients))
    campaign_name, tags = campaign_name_clean(campaign_name, tags)
    subs = sub_clean(sub, recipients=len(recipients))
    status, due_at = _message_status(schedule_at=schedule_at, expires_at=expires_at, windows=windows, now=now)
    otp = _otp_config_clean(template=template, raw=otp_config, status=status)

    targets = [_Target(raw=raw, notification_url=url) for raw, url in zip(recipients, notification_urls, strict=True)]
    for target in targets:
        try:
            if isinstance(target.raw, bool) or not isinstance(target.raw, str | int):
                raise InvalidRecipient("not a phone number")
            target.key = normalise_phone(str(target.raw), None)
            target.country = phone_country(target.key)
        except InvalidRecipient:
            target.error = SendError(102, NOT_VALID)
    _mark_blacklisted_and_duplicates(account=account, targets=targets, type=BlacklistType.SMS)

    with transaction.atomic():
        _contacts_match(account=account, column="phone", targets=targets)
        _sms_render(
            targets, template=template, subs=subs, encoding=encoding, max_parts=max_parts, trans=trans,
            land_url=land_url, otp_length=otp.length if otp else None,
        )  # fmt: skip
        if otp is not None:
            _otp_codes_issue(account=account, targets=targets, config=otp)
        accepted = [target for target in targets if target.error is None]
        if not accepted:
            _raise_first_error(targets)
        prices = sms_price_table(account=account)
        fee = certification_fee(certified=certified)
        for target in accepted:
            target.cost = prices.cost(target.country, target.parts) + fee
        cost = sum((target.cost for target in accepted), Decimal(0))
        campaign = campaign_get_or_create(account=account, name=campaign_name, tags=tags) if campaign_name else None
        sending = Sending.objects.create(
            account=account,
            campaign=campaign,
            channel=channel,
            status=SendingStatus.PENDING,
            total=len(accepted),
            total_sms_parts=sum(target.parts for target in accepted),
            cost=cost,
            currency=prices.currency,
            tags=tags,
            scheduled_at=schedule_at,
            expires_at=expires_at,
            options={
                **_sms_sending_options(
                    request, source="api", split_parts=split_parts, trans=trans, flash=flash, certified=certified
                ),
                "otp_config": otp_config,
            },
        )
        _contacts_create_missing(account=account, column="phone", targets=accepted)
        message_options = {"flash": flash, "split_parts": split_parts}
        messages_insert(
            [
                NewMessage(
                    public_id=target.public_id,
                    account_id=account.pk,
                    sending_id=sending.pk,
                    contact_id=target.contact["id"],
                    channel=channel,
                    sender=sender,
                    recipient=target.key,
                    subject="",
                    body=target.body,
                    encoding=encoding,
                    parts=target.parts,
                    options=_with_otp(message_options, target),
                    status=status,
                    scheduled_at=schedule_at,
                    expires_at=expires_at,
                    due_at=due_at,
                    cost=target.cost,
                    notification_url=target.notification_url,
                    certified=certified,
                )
                for target in accepted
            ]
        )
        # Last, so the account row is locked only for the commit; refused, it rolls everything back.
        if not account_debit(account_id=account.pk, amount=cost, sending_id=sending.pk):
            raise SendError(111)
        if status == MessageStatus.QUEUED:
            dispatch_kick_on_commit()
    return _outcome(sending, targets, schedule_at=schedule_at, expires_at=expires_at, with_parts=True)


def _sms_render(
    targets: list[_Target],
    *,
    template: CompiledTemplate,
    subs: list[dict] | None,
    encoding: str,
    max_parts: int,
    trans: bool,
    land_url: Callable[[str], str] | None = None,
    otp_length: int | None = None,
) -> None:
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
        if trans:
            body = sms_encoding.translate(body)
        if otp_length:
            # Masked before measuring: the mask has the code's length and GSM-7 characters, as the code.
            body, offsets = otp_text_mask(body, length=otp_length)
            target.otp = {"body": offsets}
        sms = sms_encoding.measure(body, encoding)
        if sms.unsupported:
            characters = " ".join(sms.unsupported)
            target.error = SendError(
                113, f"Invalid coding: {encoding} cannot encode {characters}; use encoding utf-16 or trans=1."
            )
            continue
        code = sms_encoding.check_parts(sms, max_parts)
        if code is not None:
            target.error = SendError(code)
            continue
        target.body, target.parts = body, sms.parts


def _outcome(
    sending: Sending,
    targets: list[_Target],
    *,
    schedule_at: datetime | None,
    expires_at: datetime | None,
    with_parts: bool,
) -> SendOutcome:
    results = []
    for target in targets:
        if target.error is not None:
            results.append(RecipientResult(to=_shown(target.raw), accepted=False, error=target.error))
        else:
            results.append(
                RecipientResult(
                    to=target.key or "",
                    accepted=True,
                    message_id=target.public_id,
                    parts=target.parts if with_parts else None,
                    scheduled_at=schedule_at,
                    expires_at=expires_at,
                )
            )
    return SendOutcome(campaign_id=sending.campaign_id or 0, sending_id=sending.pk, results=results)


# ---------------------------------------------------------------------------------------------
# Email


@dataclass(frozen=True)
class Attachment:
    name: str
    content: str  # base64, as the providers take it
    content_type: str

    def as_option(self) -> dict[str, str]:
        return {"name": self.name, "content": self.content, "content_type": self.content_type}


_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+")
_BAD_FILENAME = re.compile(r"[\x00-\x1f/\\]")


def attachments_clean(raw: Any) -> list[Attachment]:
    """At most MAX_ATTACHMENTS files and MAX_ATTACHMENTS_BYTES decoded in total; content must be
    valid base64 (422 otherwise)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _invalid("The attachments must be an array.")
    if len(raw) > MAX_ATTACHMENTS:
        raise _invalid(f"The attachments may not have more than {MAX_ATTACHMENTS} items.")
    attachments, total = [], 0
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _invalid(f"The attachments.{index} must be an object.")
        name, content, content_type = item.get("name"), item.get("content"), item.get("contentType")
        if not isinstance(name, str) or not name.strip():
            raise _invalid(f"The attachments.{index}.name field is required.")
        if len(name) > 255 or _BAD_FILENAME.search(name):
            raise _invalid(f"The attachments.{index}.name must be a file name (no path, at most 255 characters).")
        if not isinstance(content, str) or not content.strip():
            raise _invalid(f"The attachments.{index}.content field is required.")
        compact = "".join(content.split())
        try:
            decoded = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _invalid(f"The attachments.{index}.content must be valid base64.") from exc
        total += len(decoded)
        if total > MAX_ATTACHMENTS_BYTES:
            raise _invalid(f"The attachments may not be greater than {MAX_ATTACHMENTS_BYTES // (1024 * 1024)} MB.")
        if content_type is None or content_type == "":
            content_type = "application/octet-stream"
        if not isinstance(content_type, str) or not _CONTENT_TYPE.fullmatch(content_type.strip()):
            raise _invalid(f"The attachments.{index}.contentType must be a MIME type such as text/plain.")
        attachments.append(Attachment(name=name.strip(), content=compact, content_type=content_type.strip()))
    return attachments


def _email_list(raw: Any, *, field: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise _invalid(f"The {field} must be an array.")
    emails = []
    for index, item in enumerate(raw):
        try:
            emails.append(normalise_email(item if isinstance(item, str) else ""))
        except InvalidRecipient as exc:
            raise _invalid(f"The {field}.{index} must be a valid email address.") from exc
    return emails


def _verified(account: Account, email: str) -> bool:
    return VerifiedSender.objects.filter(account=account, email=email).exists()


def mail_sender_clean(*, account: Account, from_email: Any, reply_to: Any) -> tuple[str, str]:
    """(fromEmail, replyTo), both verified senders of the account: 106 / 115 / 116 / 117.
    Addresses are compared in the form verified senders are stored in (trimmed, lower-case)."""
    if not isinstance(from_email, str) or not from_email.strip():
        raise SendError(106)
    try:
        sender = verified_sender_email_clean(from_email)
    except ValidationError as exc:
        raise SendError(115, "Sender is not verified: fromEmail is not a valid email address.") from exc
    if not _verified(account, sender):
        raise SendError(115)
    if not isinstance(reply_to, str) or not reply_to.strip():
        raise SendError(116, "Invalid replyTo: the replyTo field is required.")
    try:
        reply = verified_sender_email_clean(reply_to)
    except ValidationError as exc:
        raise SendError(116) from exc
    if not _verified(account, reply):
        raise SendError(117)
    return sender, reply


def subject_clean(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise SendError(114, "Invalid subject: the subject is required.")
    if len(raw) > MAX_SUBJECT_LENGTH or "\r" in raw or "\n" in raw:
        raise SendError(114, f"Invalid subject: one line of at most {MAX_SUBJECT_LENGTH} characters.")
    return raw.strip()


def from_name_clean(raw: Any) -> str:
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str) or len(raw) > 255 or "\r" in raw or "\n" in raw:
        raise _invalid("The fromName must be one line of at most 255 characters.")
    return raw.strip()


def mail_template_body(*, account: Account, template_id: Any, template_v2_id: Any) -> str:
    """The HTML of a stored template (content.selectors.template_body_for_send): 140 "Template
    missing" for an id the account does not have, before anything is written."""
    from content.selectors import template_body_for_send

    return template_body_for_send(account=account, template_id=template_id, template_v2_id=template_v2_id)


def form_links_check(*, account: Account, templates: Sequence[CompiledTemplate]) -> tuple[int, ...]:
    """The form ids the templates' {FORM_<id>} name (422 when one is not a form of the account)."""
    from content.selectors import form_ids_unknown

    form_ids = tuple(sorted({form_id for template in templates for form_id in form_ids_of(template)}))
    unknown = form_ids_unknown(account=account, form_ids=form_ids)
    if unknown:
        raise _invalid(f"The message uses {{FORM_{unknown[0]}}}, but form {unknown[0]} does not exist.")
    return form_ids


def mail_body_prepare(*, account: Account, body: str, supported: frozenset[str] = SUPPORTED_RESERVED) -> EmailTemplate:
    """The email body compiled once for all recipients (content.email.email_template_prepare)."""
    from content.email import EmailTemplateError, email_template_prepare

    # 422s in the API's words
    template_compile(body.replace(UNSUBSCRIBE_LINK, UNSUBSCRIBE_PLACEHOLDER), field="body", supported=supported)
    try:
        prepared = email_template_prepare(account=account, body=body)
    except EmailTemplateError as exc:
        raise _invalid(str(exc)) from exc
    except UnknownFilter as exc:
        raise _invalid(f"The body has an unknown filter: {exc}") from exc
    form_links_check(account=account, templates=[prepared.html])
    return prepared


def _mail_sending_options(
    *,
    source: str,
    sender: str,
    from_name: str | None,
    reply_to: str | None,
    certified: bool,
    track_opens: bool,
    track_clicks: bool,
    templates: tuple[CompiledTemplate, CompiledTemplate],
) -> dict[str, Any]:
    """The Sending options every email send records, API or group send."""
    body_template, subject_template = templates
    return {
        "source": source,
        "sender": sender,
        "from_name": from_name,
        "reply_to": reply_to,
        "certified": certified,
        "track_opens": track_opens,
        "track_clicks": track_clicks,
        "variables": sorted(body_template.variables | subject_template.variables),
    }


def _mail_message_options(
    *,
    from_name: str | None,
    reply_to: str | None,
    cc: list[str],
    bcc: list[str],
    attachments: list[dict],
    track_opens: bool,
    track_clicks: bool,
) -> dict[str, Any]:
    """The per-message options the email provider reads (see OutboundMessage.options)."""
    return {
        "from_name": from_name,
        "reply_to": reply_to,
        "cc": cc,
        "bcc": bcc,
        "attachments": attachments,
        "track_opens": track_opens,
        "track_clicks": track_clicks,
    }


def mailing_send(
    *,
    account: Account,
    to: Any,
    from_email: Any,
    reply_to: Any,
    subject: Any,
    body: Any = None,
    template_id: Any = None,
    template_v2_id: Any = None,
    from_name: Any = None,
    cc: Any = None,
    bcc: Any = None,
    schedule_at: datetime | None = None,
    campaign_name: Any = None,
    tags: Any = None,
    certified: bool = False,
    sub: Any = None,
    attachments: Any = None,
    track_opens: bool = True,
    track_clicks: bool = True,
    otp_config: dict | None = None,
) -> SendOutcome:
    """POST /mailing: one email per valid recipient, each with its unsubscribe link and the
    List-Unsubscribe / List-Unsubscribe-Post (one-click) headers. An email costs nothing unless
    `certified`: then the certification fee, paid from the balance like an SMS (111 without it)."""
    if template_id is not None or template_v2_id is not None:
        body = mail_template_body(account=account, template_id=template_id, template_v2_id=template_v2_id)
    if not isinstance(body, str) or not body.strip():
        raise _invalid("The body field is required when templateId / templateV2Id is not present.")
    recipients = _recipients_list(to)
    from_email, reply_to = mail_sender_clean(account=account, from_email=from_email, reply_to=reply_to)
    subject = subject_clean(subject)
    from_name = from_name_clean(from_name)
    cc_list, bcc_list = _email_list(cc, field="cc"), _email_list(bcc, field="bcc")
    campaign_name, tags = campaign_name_clean(campaign_name, tags)
    subs = sub_clean(sub, recipients=len(recipients))
    files = attachments_clean(attachments)
    prepared = mail_body_prepare(account=account, body=body, supported=SUPPORTED_RESERVED | OTP_RESERVED)
    body_template = prepared.html
    subject_template = template_compile(subject, field="subject")
    if form_ids_of(subject_template):
        raise _invalid("The subject cannot hold a form link; put {FORM_<id>} in the body.")
    now = timezone.now()
    status, due_at = _message_status(schedule_at=schedule_at, windows=[], now=now)
    otp = _otp_config_clean(template=body_template, raw=otp_config, status=status)

    targets = [_Target(raw=raw) for raw in recipients]
    for target in targets:
        try:
            if not isinstance(target.raw, str):
                raise InvalidRecipient("not an email address")
            target.key = normalise_email(target.raw)
        except InvalidRecipient:
            target.error = SendError(102, NOT_VALID)
    _mark_blacklisted_and_duplicates(account=account, targets=targets, type=BlacklistType.MAILING)

    with transaction.atomic():
        _contacts_match(account=account, column="email", targets=targets)
        ids = iter(public_ids_generate(sum(1 for target in targets if target.error is None)))
        signers = Signers.create()
        for index, target in enumerate(targets):
            if target.error is not None:
                continue
            target.public_id = next(ids)
            target.unsubscribe = unsubscribe_url(target.public_id)
            own = contact_values(target.contact or {"email": target.key})
            extra = {**(subs[index] if subs is not None else {}), "UNSUB_URL": target.unsubscribe}
            otp_values = {"OTP_CODE": OTP_SENTINEL} if otp else {}
            target.body, target.text_body = email_html_prepare(
                prepared,
                html_values={**html_escaped(own), **extra, **otp_values},
                text_values={**own, **extra, **otp_values},
                public_id=target.public_id,
                track_opens=track_opens,
                track_clicks=track_clicks,
                signers=signers,
            )
            if otp:
                target.body, body_offsets = otp_text_mask(target.body, length=otp.length)
                target.text_body, text_offsets = otp_text_mask(target.text_body, length=otp.length)
                target.otp = {"body": body_offsets, TEXT_BODY_OPTION: text_offsets}
            target.subject = subject_template.render({**own, **extra})
            if len(target.subject) > MAX_SUBJECT_LENGTH or "\n" in target.subject or "\r" in target.subject:
                target.error = SendError(114, "Invalid subject: the personalised subject is not one short line.")
        if otp is not None:
            _otp_codes_issue(account=account, targets=targets, config=otp)
        accepted = [target for target in targets if target.error is None]
        if not accepted:
            _raise_first_error(targets)
        fee = certification_fee(certified=certified)
        campaign = campaign_get_or_create(account=account, name=campaign_name, tags=tags) if campaign_name else None
        sending = Sending.objects.create(
            account=account,
            campaign=campaign,
            channel=Channel.MAILING,
            status=SendingStatus.PENDING,
            total=len(accepted),
            cost=fee * len(accepted),
            currency=account.currency,
            tags=tags,
            scheduled_at=schedule_at,
            options={
                **_mail_sending_options(
                    source="api",
                    sender=from_email,
                    from_name=from_name,
                    reply_to=reply_to,
                    certified=certified,
                    track_opens=track_opens,
                    track_clicks=track_clicks,
                    templates=(body_template, subject_template),
                ),
                "template_id": template_id,
                "template_v2_id": template_v2_id,
                "otp_config": otp_config,
            },
        )
        _contacts_create_missing(account=account, column="email", targets=accepted)
        base_options = _mail_message_options(
            from_name=from_name, reply_to=reply_to, cc=cc_list, bcc=bcc_list,
            attachments=[attachment.as_option() for attachment in files],
            track_opens=track_opens, track_clicks=track_clicks,
        )  # fmt: skip
        messages_insert(
            [
                NewMessage(
                    public_id=target.public_id,
                    account_id=account.pk,
                    sending_id=sending.pk,
                    contact_id=target.contact["id"],
                    channel=Channel.MAILING,
                    sender=from_email,
                    recipient=target.key,
                    subject=target.subject,
                    body=target.body,
                    encoding="",
                    parts=1,
                    options=_with_otp(
                        {**mail_options(base_options, target.unsubscribe), TEXT_BODY_OPTION: target.text_body}, target
                    ),
                    status=status,
                    scheduled_at=schedule_at,
                    expires_at=None,
                    due_at=due_at,
                    cost=fee,
                    notification_url="",
                    certified=certified,
                )
                for target in accepted
            ]
        )
        # Last, as in sms_send; a free (not certified) mailing debits nothing.
        if not account_debit(account_id=account.pk, amount=sending.cost, sending_id=sending.pk):
            raise SendError(111)
        if status == MessageStatus.QUEUED:
            dispatch_kick_on_commit()
    return _outcome(sending, targets, schedule_at=schedule_at, expires_at=None, with_parts=False)


# ---------------------------------------------------------------------------------------------
# Group sends (UI and later API paths): the Sending here, the messages in fan-out chunk tasks


def _groups_clean(*, account: Account, group_ids: Sequence[int] | None) -> list[int] | None:
    if group_ids is None:
        return None
    ids = sorted({int(group_id) for group_id in group_ids})
    found = set(Group.objects.filter(account=account, pk__in=ids).values_list("pk", flat=True))
    if not ids or found != set(ids):
        raise _invalid("The selected groups are invalid.")
    return ids


def sms_group_send(
    *,
    account: Account,
    group_ids: Sequence[int] | None,
    message: str,
    sender: str,
    encoding: str | None = None,
    parts: int | None = None,
    schedule_at: datetime | None = None,
    expires_at: datetime | None = None,
    campaign_name: str | None = None,
    tags: Sequence[str] | None = None,
    trans: bool = False,
    flash: bool = False,
    split_parts: bool = False,
    certified: bool = False,
    notification_url: str | None = None,
    available_times: Any = None,
) -> Sending:
    """Send `message` to every contact with a phone in `group_ids` (None: all contacts) except the
    blacklisted ones. Validates like POST /sms, creates the Sending and its fan-out chunks; the
    messages are written by the chunk tasks (campaigns.fanout)."""
    request = _sms_request_clean(
        message=message, sender=sender, encoding=encoding, parts=parts, schedule_at=schedule_at,
        expires_at=expires_at, available_times=available_times, account=account,
    )  # fmt: skip
    template = request.template
    form_links_check(account=account, templates=[template])
    notification = notification_urls_clean(notification_url, recipients=1)[0]
    campaign_name, tags = campaign_name_clean(campaign_name, list(tags) if tags is not None else None)
    groups = _groups_clean(account=account, group_ids=group_ids)
    with transaction.atomic():
        campaign = campaign_get_or_create(account=account, name=campaign_name, tags=tags) if campaign_name else None
        sending = Sending.objects.create(
            account=account,
            campaign=campaign,
            channel=Channel.SMS,
            status=SendingStatus.PENDING,
            currency=account.currency,
            tags=tags,
            scheduled_at=schedule_at,
            expires_at=expires_at,
            options={
                **_sms_sending_options(
                    request, source="group", split_parts=split_parts, trans=trans, flash=flash, certified=certified
                ),
                "notification_url": notification,
                "fanout": {
                    "group_ids": groups,
                    "message": template.source,  # with its literal links shortened
                    "message_options": {"flash": flash, "split_parts": split_parts},
                },
            },
        )
        plan = fanout_plan(sending=sending, group_ids=groups)
        _group_send_affordable(account=account, sending=sending, recipients=plan.recipients, sms_template=template)
        sending.options["fanout"]["chunks"] = plan.chunks
        Sending.objects.filter(pk=sending.pk).update(options=sending.options)
    return sending


def _group_send_affordable(
    *, account: Account, sending: Sending, recipients: int, sms_template: CompiledTemplate | None
) -> None:
    """Refuse (111) a group send the balance cannot pay even at the cheapest price (plus the
    certification fee): the exact cost is only known per chunk, which debits it; this catches the
    obvious case before any work. `sms_template` is None for email, which costs only the fee."""
    if not recipients:
        return
    per_recipient = certification_fee(certified=bool(sending.options.get("certified")))
    if sms_template is not None:
        encoding = sending.options["encoding"]
        minimum_parts = max(1, sms_encoding.measure(sms_template.render({}), encoding).parts)
        per_recipient += sms_price_table(account=account).cheapest * minimum_parts
    elif not per_recipient:
        return
    floor = per_recipient * recipients
    if Account.objects.filter(pk=account.pk, balance__gte=floor).exists():
        return
    raise SendError(111)


def mailing_group_send(
    *,
    account: Account,
    group_ids: Sequence[int] | None,
    from_email: str,
    reply_to: str,
    subject: str,
    body: str,
    from_name: str | None = None,
    schedule_at: datetime | None = None,
    campaign_name: str | None = None,
    tags: Sequence[str] | None = None,
    certified: bool = False,
    track_opens: bool = True,
    track_clicks: bool = True,
) -> Sending:
    """Send an email to every contact with an email in `group_ids` (None: all) except the
    blacklisted ones; validated like POST /mailing, written by the fan-out chunk tasks."""
    if not isinstance(body, str) or not body.strip():
        raise _invalid("The body field is required.")
    from_email, reply_to = mail_sender_clean(account=account, from_email=from_email, reply_to=reply_to)
    subject = subject_clean(subject)
    from_name = from_name_clean(from_name)
    campaign_name, tags = campaign_name_clean(campaign_name, list(tags) if tags is not None else None)
    # Checked now (unknown forms or files, filters); each chunk prepares the same body again.
    body_template = mail_body_prepare(account=account, body=body).html
    subject_template = template_compile(subject, field="subject")
    if form_ids_of(subject_template):
        raise _invalid("The subject cannot hold a form link; put {FORM_<id>} in the body.")
    groups = _groups_clean(account=account, group_ids=group_ids)
    with transaction.atomic():
        campaign = campaign_get_or_create(account=account, name=campaign_name, tags=tags) if campaign_name else None
        sending = Sending.objects.create(
            account=account,
            campaign=campaign,
            channel=Channel.MAILING,
            status=SendingStatus.PENDING,
            currency=account.currency,
            tags=tags,
            scheduled_at=schedule_at,
            options={
                **_mail_sending_options(
                    source="group",
                    sender=from_email,
                    from_name=from_name,
                    reply_to=reply_to,
                    certified=certified,
                    track_opens=track_opens,
                    track_clicks=track_clicks,
                    templates=(body_template, subject_template),
                ),
                "fanout": {
                    "group_ids": groups,
                    "message": body,
                    "subject": subject,
                    "message_options": _mail_message_options(
                        from_name=from_name,
                        reply_to=reply_to,
                        cc=[],
                        bcc=[],
                        attachments=[],
                        track_opens=track_opens,
                        track_clicks=track_clicks,
                    ),
                },
            },
        )
        plan = fanout_plan(sending=sending, group_ids=groups)
        _group_send_affordable(account=account, sending=sending, recipients=plan.recipients, sms_template=None)
        sending.options["fanout"]["chunks"] = plan.chunks
        Sending.objects.filter(pk=sending.pk).update(options=sending.options)
    return sending


# ---------------------------------------------------------------------------------------------
# Scheduled messages


def scheduled_reschedule(*, messages: QuerySet[Message], schedule_at: datetime) -> int:
    """Move the scheduled `messages` (a queryset from campaigns.selectors.scheduled_messages) to
    `schedule_at`, each still inside its sending's availableTimes; one in the past is released at
    once. Returns how many changed. Messages a dispatcher released meanwhile are left alone."""
    now = timezone.now()
    updated = 0
    with transaction.atomic():
        sendings = Sending.objects.filter(pk__in=messages.values("sending_id")).values_list(
            "pk", "options", "expires_at"
        )
        for sending_id, options, expires_at in sendings:
            status, due_at = _message_status(
                schedule_at=schedule_at, expires_at=expires_at, windows=(options or {}).get("available_times"), now=now
            )
            updated += messages.filter(sending_id=sending_id, status=MessageStatus.SCHEDULED).update(
                scheduled_at=schedule_at, due_at=due_at, status=status, updated_at=now
            )
            Sending.objects.filter(pk=sending_id).update(scheduled_at=schedule_at, updated_at=now)
        if schedule_at <= now and updated:
            dispatch_kick_on_commit()
    return updated


def scheduled_cancel(*, account: Account, messages: QuerySet[Message]) -> int:
    """Cancel the scheduled `messages`: they become `cancelled` (kept as the record), their cost
    goes back to the balance and their sendings' totals drop; a sending left with nothing to send
    is CANCELLED. Returns how many were cancelled."""
    now = timezone.now()
    with transaction.atomic():
        per_sending = _cancel_returning(messages=messages, now=now)
        for sending_id, (count, parts, cost) in per_sending.items():
            Sending.objects.filter(pk=sending_id).update(
                total=F("total") - count,
                total_sms_parts=F("total_sms_parts") - parts,
                cost=F("cost") - cost,
                updated_at=now,
            )
            # One ledger entry per sending, so each refund names what it refunds.
            account_credit(account_id=account.pk, amount=cost, sending_id=sending_id)
        emptied = Sending.objects.filter(pk__in=list(per_sending)).exclude(
            Exists(Message.objects.filter(sending_id=OuterRef("pk")).exclude(status=MessageStatus.CANCELLED))
        )
        emptied.update(status=SendingStatus.CANCELLED, finished_at=now, updated_at=now)
    return sum(count for count, _parts, _cost in per_sending.values())


def _cancel_returning(*, messages: QuerySet[Message], now: datetime) -> dict[int, tuple[int, int, Decimal]]:
    """{sending id: (messages, SMS parts, cost)} of the messages cancelled, read from the UPDATE itself
    on PostgreSQL so a message released meanwhile is neither cancelled nor refunded."""
    scheduled = messages.filter(status=MessageStatus.SCHEDULED)
    if connection.vendor != "postgresql":
        rows = list(scheduled.select_for_update().values_list("pk", "sending_id", "channel", "parts", "cost"))
        Message.objects.filter(pk__in=[row[0] for row in rows]).update(
            status=MessageStatus.CANCELLED, final_at=now, updated_at=now
        )
        totals: dict[int, tuple[int, int, Decimal]] = {}
        for _pk, sending_id, channel, parts, cost in rows:
            count, total_parts, total_cost = totals.get(sending_id, (0, 0, Decimal(0)))
            sms_parts = 0 if channel == Channel.MAILING else parts
            totals[sending_id] = (count + 1, total_parts + sms_parts, total_cost + cost)
        return totals
    try:
        select_sql, params = scheduled.values("pk").query.sql_with_params()
    except EmptyResultSet:  # a filter Django knows matches nothing (found by tests/fuzz): nothing to cancel
        return {}
    table = Message._meta.db_table
    sql = (
        f"WITH cancelled AS (UPDATE {table} SET status = %s, final_at = %s, updated_at = %s "  # noqa: S608
        f"WHERE id IN ({select_sql}) AND status = %s RETURNING sending_id, channel, parts, cost) "
        "SELECT sending_id, COUNT(*), SUM(CASE WHEN channel = %s THEN 0 ELSE parts END), SUM(cost) "
        "FROM cancelled GROUP BY sending_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [MessageStatus.CANCELLED, now, now, *params, MessageStatus.SCHEDULED, Channel.MAILING])
        return {sending_id: (count, int(parts), Decimal(cost)) for sending_id, count, parts, cost in cursor.fetchall()}
