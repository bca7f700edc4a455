"""The email channel: what the pipeline asks a channel, for POST /mailing and the compose page.

- `clean(request)`: verified sender and replyTo (106/115/116/117), subject (114), fromName, cc /
  bcc, attachments (at most MAX_ATTACHMENTS, MAX_ATTACHMENTS_BYTES decoded), a stored template
  (140) or the body, {OTP_CODE}; the body prepared once (content.email: custom links, CSS inlined,
  plain-text alternative); refusals before anything is written.
- `render(prepared, targets)`: each recipient's HTML and text (contact values HTML-escaped, `sub`
  as given, the unsubscribe link, tracking, the one-time code masked) and subject.
- `price`: nothing, or the certification fee when `certified` (nothing for a message a rule rejected).
- `sending_fields` / `message`: the Sending's and each Message's columns and options (with the
  List-Unsubscribe headers).

Group sends render rows in campaigns.fanout (`_render_rows`) with the same prepared body.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Account, VerifiedSender
from accounts.services import verified_sender_email_clean
from campaigns.errors import SendError
from campaigns.outbox import NewMessage, public_ids_generate
from campaigns.personalisation import contact_values, html_escaped, mail_options
from campaigns.pricing import certification_fee
from campaigns.sending.audience import recipients_list
from campaigns.sending.persist import message_new
from campaigns.sending.request import SendRequest, Target
from campaigns.sending.validate import (
    OTP_RESERVED,
    SUPPORTED_RESERVED,
    campaign_name_clean,
    form_links_check,
    invalid,
    message_status,
    otp_config_clean_for,
    sub_clean,
    template_compile,
)
from compliance.protocol import Purpose
from contacts.normalize import InvalidRecipient, normalise_email
from content.email import (
    TEXT_BODY_OPTION,
    EmailTemplate,
    EmailTemplateError,
    Signers,
    email_html_prepare,
    email_template_prepare,
    form_ids_of,
)
from content.selectors import template_body_for_send
from messaging.rendering import CompiledTemplate, UnknownFilter
from otp.services import OTP_SENTINEL, OtpConfig, otp_text_mask
from tracking.links import unsubscribe_url

MAX_ATTACHMENTS: Final = 10
MAX_ATTACHMENTS_BYTES: Final = 10 * 1024 * 1024  # decoded, all attachments of one request together
MAX_SUBJECT_LENGTH: Final = 998  # RFC 5322 line limit
UNSUBSCRIBE_LINK: Final = "[unsubscribe_link]"
UNSUBSCRIBE_PLACEHOLDER: Final = "{UNSUB_URL}"
WITH_PARTS: Final = False  # the answer gives no parts for an email


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
        raise invalid("The attachments must be an array.", field="attachments")
    if len(raw) > MAX_ATTACHMENTS:
        raise invalid(f"The attachments may not have more than {MAX_ATTACHMENTS} items.", field="attachments")
    attachments, total = [], 0
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid(f"The attachments.{index} must be an object.", field="attachments")
        name, content, content_type = item.get("name"), item.get("content"), item.get("contentType")
        if not isinstance(name, str) or not name.strip():
            raise invalid(f"The attachments.{index}.name field is required.", field="attachments")
        if len(name) > 255 or _BAD_FILENAME.search(name):
            raise invalid(
                f"The attachments.{index}.name must be a file name (no path, at most 255 characters).",
                field="attachments",
            )
        if not isinstance(content, str) or not content.strip():
            raise invalid(f"The attachments.{index}.content field is required.", field="attachments")
        compact = "".join(content.split())
        try:
            decoded = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid(f"The attachments.{index}.content must be valid base64.", field="attachments") from exc
        total += len(decoded)
        if total > MAX_ATTACHMENTS_BYTES:
            raise invalid(
                f"The attachments may not be greater than {MAX_ATTACHMENTS_BYTES // (1024 * 1024)} MB.",
                field="attachments",
            )
        if content_type is None or content_type == "":
            content_type = "application/octet-stream"
        if not isinstance(content_type, str) or not _CONTENT_TYPE.fullmatch(content_type.strip()):
            raise invalid(
                f"The attachments.{index}.contentType must be a MIME type such as text/plain.", field="attachments"
            )
        attachments.append(Attachment(name=name.strip(), content=compact, content_type=content_type.strip()))
    return attachments


def _email_list(raw: Any, *, field: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise invalid(f"The {field} must be an array.", field=field)
    emails = []
    for index, item in enumerate(raw):
        try:
            emails.append(normalise_email(item if isinstance(item, str) else ""))
        except InvalidRecipient as exc:
            raise invalid(f"The {field}.{index} must be a valid email address.", field=field) from exc
    return emails


def _verified(account: Account, email: str) -> bool:
    return VerifiedSender.objects.filter(account=account, email=email).exists()


def mail_sender_clean(*, account: Account, from_email: Any, reply_to: Any) -> tuple[str, str]:
    """(fromEmail, replyTo), both verified senders of the account: 106 / 115 / 116 / 117.
    Addresses are compared in the form verified senders are stored in (trimmed, lower-case)."""
    if not isinstance(from_email, str) or not from_email.strip():
        raise SendError(106, field="from_email")
    try:
        sender = verified_sender_email_clean(from_email)
    except ValidationError as exc:
        raise SendError(
            115, "Sender is not verified: fromEmail is not a valid email address.", field="from_email"
        ) from exc
    if not _verified(account, sender):
        raise SendError(115, field="from_email")
    if not isinstance(reply_to, str) or not reply_to.strip():
        raise SendError(116, "Invalid replyTo: the replyTo field is required.", field="reply_to")
    try:
        reply = verified_sender_email_clean(reply_to)
    except ValidationError as exc:
        raise SendError(116, field="reply_to") from exc
    if not _verified(account, reply):
        raise SendError(117, field="reply_to")
    return sender, reply


def subject_clean(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise SendError(114, "Invalid subject: the subject is required.", field="subject")
    if len(raw) > MAX_SUBJECT_LENGTH or "\r" in raw or "\n" in raw:
        raise SendError(114, f"Invalid subject: one line of at most {MAX_SUBJECT_LENGTH} characters.", field="subject")
    return raw.strip()


def from_name_clean(raw: Any) -> str:
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str) or len(raw) > 255 or "\r" in raw or "\n" in raw:
        raise invalid("The fromName must be one line of at most 255 characters.", field="from_name")
    return raw.strip()


def mail_template_body(*, account: Account, template_id: Any, template_v2_id: Any) -> str:
    """The HTML of a stored template (content.selectors.template_body_for_send): 140 "Template
    missing" for an id the account does not have, before anything is written."""
    return template_body_for_send(account=account, template_id=template_id, template_v2_id=template_v2_id)


def mail_body_prepare(*, account: Account, body: str, supported: frozenset[str] = SUPPORTED_RESERVED) -> EmailTemplate:
    """The email body compiled once for all recipients (content.email.email_template_prepare)."""
    # 422s in the API's words
    template_compile(body.replace(UNSUBSCRIBE_LINK, UNSUBSCRIBE_PLACEHOLDER), field="body", supported=supported)
    try:
        prepared = email_template_prepare(account=account, body=body)
    except EmailTemplateError as exc:
        raise invalid(str(exc), field="body") from exc
    except UnknownFilter as exc:
        raise invalid(f"The body has an unknown filter: {exc}", field="body") from exc
    form_links_check(account=account, templates=[prepared.html])
    return prepared


def mail_sending_options(
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


def mail_message_options(
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


# ---------------------------------------------------------------------------------------------
# The channel, for list sends


@dataclass(frozen=True)
class EmailPrepared:
    request: SendRequest
    recipients: list[Any]
    notification_urls: list[str]
    campaign_name: str | None
    tags: list[str]
    subs: list[dict] | None
    status: str
    due_at: datetime
    otp: OtpConfig | None
    purpose: str
    sender: str
    reply_to: str
    from_name: str
    cc: list[str]
    bcc: list[str]
    attachments: list[Attachment]
    body: EmailTemplate
    subject: CompiledTemplate


def clean(request: SendRequest) -> EmailPrepared:
    """Every refusal of POST /mailing that needs no recipient, in the API's order."""
    account, body = request.account, request.text
    if request.template_id is not None or request.template_v2_id is not None:
        body = mail_template_body(
            account=account, template_id=request.template_id, template_v2_id=request.template_v2_id
        )
    if not isinstance(body, str) or not body.strip():
        raise invalid("The body field is required when templateId / templateV2Id is not present.", field="body")
    recipients = recipients_list(request.recipients)
    sender, reply_to = mail_sender_clean(account=account, from_email=request.sender, reply_to=request.reply_to)
    subject = subject_clean(request.subject)
    from_name = from_name_clean(request.sender_name)
    cc, bcc = _email_list(request.cc, field="cc"), _email_list(request.bcc, field="bcc")
    campaign_name, tags = campaign_name_clean(request.campaign_name, request.tags)
    subs = sub_clean(request.sub, recipients=len(recipients))
    files = attachments_clean(request.attachments)
    prepared = mail_body_prepare(account=account, body=body, supported=SUPPORTED_RESERVED | OTP_RESERVED)
    subject_template = template_compile(subject, field="subject")
    if form_ids_of(subject_template):
        raise invalid("The subject cannot hold a form link; put {FORM_<id>} in the body.", field="subject")
    status, due_at = message_status(schedule_at=request.schedule_at, windows=[], now=timezone.now())
    otp = otp_config_clean_for(template=prepared.html, raw=request.otp_config, status=status)
    return EmailPrepared(
        request=request, recipients=recipients, notification_urls=[""] * len(recipients),
        campaign_name=campaign_name, tags=tags, subs=subs, status=status, due_at=due_at, otp=otp,
        purpose=Purpose.TRANSACTIONAL if otp is not None else request.purpose, sender=sender, reply_to=reply_to,
        from_name=from_name, cc=cc, bcc=bcc, attachments=files, body=prepared, subject=subject_template,
    )  # fmt: skip


def render(prepared: EmailPrepared, targets: Sequence[Target]) -> None:
    """Each accepted target's HTML, text alternative and subject; 114 for a personalised subject
    that is no longer one short line."""
    request, otp, subs = prepared.request, prepared.otp, prepared.subs
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
            prepared.body,
            html_values={**html_escaped(own), **extra, **otp_values},
            text_values={**own, **extra, **otp_values},
            public_id=target.public_id,
            track_opens=request.track_opens,
            track_clicks=request.track_clicks,
            signers=signers,
        )
        if otp:
            target.body, body_offsets = otp_text_mask(target.body, length=otp.length)
            target.text_body, text_offsets = otp_text_mask(target.text_body, length=otp.length)
            target.otp = {"body": body_offsets, TEXT_BODY_OPTION: text_offsets}
        target.subject = prepared.subject.render({**own, **extra})
        if len(target.subject) > MAX_SUBJECT_LENGTH or "\n" in target.subject or "\r" in target.subject:
            target.error = SendError(
                114, "Invalid subject: the personalised subject is not one short line.", field="subject"
            )


def price(prepared: EmailPrepared, targets: Sequence[Target]) -> str:
    """The certification fee per email when `certified` (else nothing); returns the currency."""
    fee = certification_fee(certified=prepared.request.certified)
    for target in targets:
        target.cost = Decimal(0) if target.skip is not None else fee
    return prepared.request.account.currency


def sending_fields(prepared: EmailPrepared, targets: Sequence[Target]) -> dict[str, Any]:
    request = prepared.request
    return {
        "options": {
            **mail_sending_options(
                source=request.source,
                sender=prepared.sender,
                from_name=prepared.from_name,
                reply_to=prepared.reply_to,
                certified=request.certified,
                track_opens=request.track_opens,
                track_clicks=request.track_clicks,
                templates=(prepared.body.html, prepared.subject),
            ),
            "template_id": request.template_id,
            "template_v2_id": request.template_v2_id,
            "otp_config": request.otp_config,
        }
    }


def message_options(prepared: EmailPrepared) -> dict[str, Any]:
    request = prepared.request
    return mail_message_options(
        from_name=prepared.from_name, reply_to=prepared.reply_to, cc=prepared.cc, bcc=prepared.bcc,
        attachments=[attachment.as_option() for attachment in prepared.attachments],
        track_opens=request.track_opens, track_clicks=request.track_clicks,
    )  # fmt: skip


def message(
    prepared: EmailPrepared, target: Target, *, sending_id: int, status: str, due_at: datetime, options: dict[str, Any]
) -> NewMessage:
    return message_new(
        prepared.request,
        target,
        sending_id=sending_id,
        sender=prepared.sender,
        encoding="",
        options={**mail_options(options, target.unsubscribe), TEXT_BODY_OPTION: target.text_body},
        status=status,
        due_at=due_at,
    )


# ---------------------------------------------------------------------------------------------
# The channel, for group sends (the messages are written by the fan-out chunks)


@dataclass(frozen=True)
class EmailPlan:
    campaign_name: str | None
    tags: list[str]
    options: dict[str, Any]  # the Sending's options, with the fan-out's own


def plan_clean(request: SendRequest) -> EmailPlan:
    """A group send validated like POST /mailing (the same order of refusals)."""
    account, body = request.account, request.text
    if not isinstance(body, str) or not body.strip():
        raise invalid("The body field is required.", field="body")
    sender, reply_to = mail_sender_clean(account=account, from_email=request.sender, reply_to=request.reply_to)
    subject = subject_clean(request.subject)
    from_name = from_name_clean(request.sender_name)
    campaign_name, tags = campaign_name_clean(request.campaign_name, request.tags)
    # Checked now (unknown forms or files, filters); each chunk prepares the same body again.
    body_template = mail_body_prepare(account=account, body=body).html
    subject_template = template_compile(subject, field="subject")
    if form_ids_of(subject_template):
        raise invalid("The subject cannot hold a form link; put {FORM_<id>} in the body.", field="subject")
    track_opens, track_clicks = request.track_opens, request.track_clicks
    options = {
        **mail_sending_options(
            source="group", sender=sender, from_name=from_name, reply_to=reply_to, certified=request.certified,
            track_opens=track_opens, track_clicks=track_clicks, templates=(body_template, subject_template),
        ),
        "fanout": {
            "group_ids": None,  # set by the pipeline once the groups are checked
            "message": body,
            "subject": subject,
            "message_options": mail_message_options(
                from_name=from_name, reply_to=reply_to, cc=[], bcc=[], attachments=[], track_opens=track_opens,
                track_clicks=track_clicks,
            ),
        },
    }  # fmt: skip
    return EmailPlan(campaign_name, tags, options)


def cheapest_per_recipient(plan: EmailPlan, *, account: Account) -> Decimal:
    """An email costs nothing but the certification fee (added by the pipeline)."""
    return Decimal(0)
