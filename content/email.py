"""Email HTML preparation, shared by every email send path (campaigns.services.mailing_send and
the group fan-out in campaigns.fanout).

Per send, once (`email_template_prepare`):
1. custom links: `[unsubscribe_link]` -> `{UNSUB_URL}` and `[form_{ID}]` -> `{FORM_{ID}}` (filled
   per recipient by the renderer, like the SMS placeholders), `[attachment_{ID}]` -> the file's
   signed link (the same for every recipient); unknown form or file ids are refused;
2. CSS inlined with css-inline (remote stylesheets are not fetched);
3. the plain-text alternative converted from that HTML with html2text, placeholders and all.
Both results are compiled once, so a million-recipient send parses and inlines once, not per
recipient.

Per recipient (`email_html_prepare`): render both with the recipient's values (HTML-escaped ones
for the HTML), fill `{FORM_x}` with the recipient's personal form link and `[show_link]` with the
signed web view of this very message, then apply click / open tracking
(tracking.links.email_tracking_apply). The caller stores the HTML as the message body and the
text as `Message.options["text_body"]`, which the SMTP provider sends as multipart/alternative.
The text part keeps the original links: click tracking rewrites only the HTML.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import css_inline
import html2text
from django.core import signing

from accounts.models import Account
from content.links import file_link_url, form_link_url, form_signer, show_link_url, show_signer
from content.selectors import file_ids_unknown, form_ids_unknown
from messaging.rendering import RESERVED_PREFIX, CompiledTemplate, compile_template

logger = logging.getLogger(__name__)

UNSUBSCRIBE_LINK: Final = "[unsubscribe_link]"
SHOW_LINK: Final = "[show_link]"
TEXT_BODY_OPTION: Final = "text_body"
_FORM_LINK: Final = re.compile(r"\[form_(\d{1,18})\]")
_ATTACHMENT_LINK: Final = re.compile(r"\[attachment_(\d{1,18})\]")
_inliner = css_inline.CSSInliner(load_remote_stylesheets=False)

TrackingApply = Callable[..., str]


class EmailTemplateError(ValueError):
    """The body names a form or file the account does not have; the message says which."""


@dataclass(frozen=True)
class EmailTemplate:
    html: CompiledTemplate
    text: CompiledTemplate
    form_ids: tuple[int, ...]  # {FORM_x} to fill per recipient
    show_link: bool


def custom_links_replace(body: str, *, account: Account, check: bool = True) -> str:
    """The template's custom links turned into placeholders / signed file links (step 1).
    `check` refuses links to forms and files the account does not have."""
    body = body.replace(UNSUBSCRIBE_LINK, "{UNSUB_URL}")
    form_ids = {int(found) for found in _FORM_LINK.findall(body)}
    unknown = form_ids_unknown(account=account, form_ids=form_ids) if check else []
    if unknown:
        raise EmailTemplateError(f"The body links to form {unknown[0]}, which does not exist.")
    body = _FORM_LINK.sub(lambda match: f"{{{RESERVED_PREFIX}{int(match.group(1))}}}", body)
    file_ids = {int(found) for found in _ATTACHMENT_LINK.findall(body)}
    unknown = file_ids_unknown(account=account, file_ids=file_ids) if check else []
    if unknown:
        raise EmailTemplateError(f"The body links to attachment {unknown[0]}, which does not exist.")
    return _ATTACHMENT_LINK.sub(lambda match: file_link_url(int(match.group(1))), body)


def css_inline_html(html: str) -> str:
    """`html` with its <style> rules moved into style attributes; HTML without a stylesheet is
    returned as written (a fragment stays a fragment)."""
    lowered = html.lower()
    if "<style" not in lowered and "<link" not in lowered:
        return html
    try:
        return _inliner.inline(html)
    except ValueError:  # css-inline refuses some malformed CSS: send the HTML as written
        logger.warning("CSS could not be inlined; the email keeps its <style> blocks")
        return html


def text_alternative(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wraps: they would break long links
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    return converter.handle(html).strip() + "\n"


def form_ids_of(template: CompiledTemplate) -> tuple[int, ...]:
    prefix = RESERVED_PREFIX
    return tuple(
        sorted(
            int(name[len(prefix) :])
            for name in template.reserved
            if name.startswith(prefix) and name[len(prefix) :].isdigit()
        )
    )


def email_template_prepare(*, account: Account, body: str, check: bool = True) -> EmailTemplate:
    """Steps 1-3 of the module docstring, once per send. Raises EmailTemplateError for a link to
    an unknown form or file, and messaging.rendering.UnknownFilter for a bad filter."""
    html = css_inline_html(custom_links_replace(body, account=account, check=check))
    html_template = compile_template(html)
    return EmailTemplate(
        html=html_template,
        text=compile_template(text_alternative(html)),
        form_ids=form_ids_of(html_template),
        show_link=SHOW_LINK in html,
    )


@lru_cache(maxsize=1)
def _tracking_apply() -> TrackingApply | None:
    try:
        from tracking.links import email_tracking_apply
    except ImportError:
        logger.info("tracking.links.email_tracking_apply is not available: emails go out untracked")
        return None
    return email_tracking_apply


@dataclass
class Signers:
    """Signers built once per batch (each costs a key derivation)."""

    form: signing.Signer
    show: signing.Signer

    @classmethod
    def create(cls) -> Signers:
        return cls(form=form_signer(), show=show_signer())


def personal_links(
    template_form_ids: tuple[int, ...], *, public_id: str, signer: signing.Signer | None = None
) -> dict[str, str]:
    """{"FORM_<id>": the recipient's form link} for the forms a template names (SMS and email)."""
    return {
        f"{RESERVED_PREFIX}{form_id}": form_link_url(form_id=form_id, public_id=public_id, signer=signer)
        for form_id in template_form_ids
    }


def email_html_prepare(
    template: EmailTemplate,
    *,
    html_values: Mapping[str, Any],
    text_values: Mapping[str, Any],
    public_id: str,
    track_opens: bool,
    track_clicks: bool,
    signers: Signers | None = None,
) -> tuple[str, str]:
    """(HTML body, plain-text alternative) of one recipient's email (see the module docstring).

    `html_values` are the recipient's values HTML-escaped, `text_values` the same unescaped; both
    carry UNSUB_URL (and any `sub` values) already."""
    links: dict[str, str] = {}
    if template.form_ids:
        links = personal_links(template.form_ids, public_id=public_id, signer=signers.form if signers else None)
    html = template.html.render({**html_values, **links})
    text = template.text.render({**text_values, **links})
    if template.show_link:
        show = show_link_url(public_id, signer=signers.show if signers else None)
        html = html.replace(SHOW_LINK, show)
        text = text.replace(SHOW_LINK, show)
    apply = _tracking_apply()
    if apply is not None and (track_opens or track_clicks):
        html = apply(html, public_id=public_id, track_opens=track_opens, track_clicks=track_clicks)
    return html, text
