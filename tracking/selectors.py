"""Reads for the public tracking pages and the staff short-link list."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import Account
from campaigns.models import Sending
from campaigns.personalisation import CONTACT_VALUE_COLUMNS, contact_values, html_escaped
from contacts.models import Contact
from content.email import form_ids_of, personal_links
from messaging.models import Message
from messaging.rendering import compile_template
from tracking.links import links_track, unsubscribe_url
from tracking.models import ShortLink


def short_link_get(*, code: str) -> ShortLink | None:
    return ShortLink.objects.filter(code=code).first()


def short_links_for_account(*, account: Account) -> QuerySet[ShortLink]:
    """The account's short links, newest first (landing links included)."""
    return ShortLink.objects.filter(account=account).order_by("-id")


def message_exists(*, public_id: str) -> bool:
    return Message.objects.filter(public_id=public_id).exists()


@dataclass(frozen=True)
class LandingPage:
    message: Message
    account: Account
    html: str  # rendered for the recipient, links tracked; the unsubscribe footer is added by the view
    unsubscribe_url: str


def landing_page_get(*, link: ShortLink) -> LandingPage | None:
    """The landing page of a landing link, rendered with the recipient's contact values and the
    `sub` values of their send (all HTML-escaped), or None when its message or template is gone."""
    message = Message.objects.select_related("account").filter(public_id=link.message_public_id).first()
    if message is None:
        return None
    options = Sending.objects.filter(pk=message.sending_id).values_list("options", flat=True).first() or {}
    body = (options.get("landing") or {}).get("body")
    if not body:
        return None
    contact = (
        Contact.objects.filter(pk=message.contact_id).values(*CONTACT_VALUE_COLUMNS, "custom_fields").first()
        if message.contact_id
        else None
    )
    values = {**contact_values(contact or {"phone": message.recipient}), **(link.values or {})}
    unsubscribe = unsubscribe_url(message.public_id)
    template = compile_template(body)
    forms = personal_links(form_ids_of(template), public_id=message.public_id)  # [form_{ID}] links
    rendered = template.render({**html_escaped(values), "UNSUB_URL": unsubscribe, **forms})
    return LandingPage(
        message=message,
        account=message.account,
        html=links_track(rendered, public_id=message.public_id),
        unsubscribe_url=unsubscribe,
    )
