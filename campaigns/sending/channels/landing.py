"""Landing SMS (POST /landingsms and the compose page): an SMS per recipient whose {LAND_URL} is
that recipient's own short link to a hosted landing page (tracking.views serves it).

The channel is SMS (campaigns.sending.channels.sms: clean, render, measure, price) on its own
`landing` channel, with the landing limits (parts 1-8, {LAND_URL} required) and a personal short
link per recipient, written in the send's transaction with the messages (pipeline.run).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from django.db import transaction

from accounts.models import Account
from campaigns.errors import SendError
from campaigns.models import Channel, Sending
from campaigns.sending import pipeline
from campaigns.sending.request import SendRequest
from campaigns.sending.results import SendOutcome
from campaigns.sending.validate import SUPPORTED_RESERVED
from content.email import EmailTemplateError, custom_links_replace
from content.selectors import template_body_for_send
from messaging.rendering import UnknownFilter, compile_template
from tracking.models import ShortLink, ShortLinkKind
from tracking.services import code_generate, short_url

LANDING_MAX_PARTS: Final = 8
MAX_LANDING_BYTES: Final = 512 * 1024
_LAND_URL = re.compile(r"\{LAND_URL(?:\|[^{}]*)?\}")


def _landing_body(*, account: Account, template_body: Any, template_id: Any, template_v2_id: Any) -> str:
    if isinstance(template_body, str) and template_body.strip():
        body = template_body
    elif template_id is not None or template_v2_id is not None:
        body = template_body_for_send(account=account, template_id=template_id, template_v2_id=template_v2_id)
    else:
        raise SendError(
            140, "Template missing: templateBody, templateId or templateV2Id is required.", field="template"
        )
    if len(body.encode()) > MAX_LANDING_BYTES:
        raise SendError(
            422, f"The templateBody may not be greater than {MAX_LANDING_BYTES // 1024} KB.", field="landing_body"
        )
    if "\x00" in body:  # kept in the sending's options (jsonb), which cannot hold it
        raise SendError(422, "The templateBody may not contain NUL characters.", field="landing_body")
    # The templates' custom links, as in an email: [unsubscribe_link], [form_{ID}] (filled per
    # recipient when the page is served), [attachment_{ID}]; unknown forms or files are refused.
    try:
        body = custom_links_replace(body, account=account)
    except EmailTemplateError as exc:
        raise SendError(422, str(exc), field="landing_body") from exc
    try:
        compile_template(body)
    except UnknownFilter as exc:
        raise SendError(422, f"The templateBody has an unknown filter: {exc}", field="landing_body") from exc
    return body


def _landing_sub_storable(sub: Any) -> None:
    """Each recipient's `sub` values are kept on their landing link (jsonb, which cannot hold NUL)."""
    if not isinstance(sub, list):
        return  # the send's own checks answer for a malformed sub
    for index, item in enumerate(sub):
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if "\x00" in str(key) or (isinstance(value, str) and "\x00" in value):
                raise SendError(422, f"The sub.{index} may not contain NUL characters.", field="sub")


def landing_sms_send(
    *,
    account: Account,
    message: Any,
    to: Any,
    sender: Any,
    template_body: Any = None,
    template_id: Any = None,
    template_v2_id: Any = None,
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
) -> SendOutcome:
    """POST /landingsms: an SMS per recipient whose `{LAND_URL}` is that recipient's short link to
    a hosted landing page (the template, rendered with their variables when they open it)."""
    if isinstance(message, str) and message.strip() and not _LAND_URL.search(message):
        raise SendError(141, "Missing landing placeholder: the message must contain {LAND_URL}.", field="message")
    body = _landing_body(
        account=account, template_body=template_body, template_id=template_id, template_v2_id=template_v2_id
    )
    _landing_sub_storable(sub)
    codes: dict[str, str] = {}

    def land_url(public_id: str) -> str:
        codes[public_id] = code_generate()
        return short_url(codes[public_id])

    with transaction.atomic():
        outcome = pipeline.run(
            SendRequest(
                channel=Channel.LANDING, account=account, recipients=to, text=message, sender=sender,
                encoding=encoding, schedule_at=schedule_at, expires_at=expires_at, parts=parts,
                split_parts=split_parts, notification_url=notification_url, trans=trans, campaign_name=campaign_name,
                tags=tags, certified=certified, sub=sub, flash=flash, parts_limit=LANDING_MAX_PARTS,
                land_url=land_url, supported_reserved=SUPPORTED_RESERVED | {"LAND_URL"},
            )
        )  # fmt: skip
        subs = sub if isinstance(sub, list) else None
        ShortLink.objects.bulk_create(
            ShortLink(
                code=codes[result.message_id],
                account=account,
                kind=ShortLinkKind.LANDING,
                message_public_id=result.message_id,
                values=subs[index] if subs is not None else {},
            )
            for index, result in enumerate(outcome.results)
            if result.accepted
        )
        sending = Sending.objects.get(pk=outcome.sending_id)
        sending.options["landing"] = {"body": body, "template_id": template_id, "template_v2_id": template_v2_id}
        Sending.objects.filter(pk=sending.pk).update(options=sending.options)
    return outcome
