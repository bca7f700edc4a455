"""Reads of the content app, always scoped to the caller's account."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from accounts.models import Account
from campaigns.errors import SendError
from config.parsing import parse_int
from content.links import form_token_read
from content.models import AccountFile, Form, Template, TemplateVersion
from messaging.models import Message


def template_list(*, account: Account, version: int) -> QuerySet[Template]:
    return Template.objects.filter(account=account, version=version).order_by("id")


def template_get(*, account: Account, version: int, template_id: int) -> Template | None:
    return Template.objects.filter(account=account, version=version, pk=template_id).first()


def template_body_for_send(*, account: Account, template_id: Any, template_v2_id: Any) -> str:
    """The HTML of the template a send names (`templateV2Id` wins over `templateId`).

    Raises campaigns.errors.SendError: 140 "Template missing" for an id the account does not
    have (another account's id included), 422 for an id that is not an integer.
    """
    field, raw, version = (
        ("templateV2Id", template_v2_id, TemplateVersion.V2)
        if template_v2_id is not None
        else ("templateId", template_id, TemplateVersion.V1)
    )
    reference = parse_int(raw)
    if reference is None:
        raise SendError(422, f"The {field} must be an integer.", field="template")
    html = Template.objects.filter(account=account, version=version, pk=reference).values_list("html", flat=True)
    body = html.first()
    if body is None:
        raise SendError(140, f"Template missing: {field} {reference} does not exist.", field="template")
    return body


def form_list(*, account: Account) -> QuerySet[Form]:
    return Form.objects.filter(account=account).order_by("id")


def form_get(*, account: Account, form_id: int) -> Form | None:
    return Form.objects.filter(account=account, pk=form_id).first()


def form_ids_unknown(*, account: Account, form_ids: Iterable[int]) -> list[int]:
    """The ids among `form_ids` that are not forms of the account, sorted."""
    wanted = set(form_ids)
    if not wanted:
        return []
    found = set(Form.objects.filter(account=account, pk__in=wanted).values_list("pk", flat=True))
    return sorted(wanted - found)


def form_and_message_for_token(token: str) -> tuple[Form, Message] | None:
    """The form and the recipient's message a personal form link points at, or None for a
    tampered link, a deleted form or a message of another account."""
    read = form_token_read(token)
    if read is None:
        return None
    form_id, public_id = read
    message = Message.objects.select_related("contact", "account", "sending").filter(public_id=public_id).first()
    if message is None or message.contact is None:
        return None
    form = Form.objects.filter(pk=form_id, account_id=message.account_id).first()
    if form is None:
        return None
    return form, message


def file_list(*, account: Account) -> QuerySet[AccountFile]:
    return AccountFile.objects.filter(account=account).order_by("-id")


def file_get(*, account: Account, file_id: int) -> AccountFile | None:
    return AccountFile.objects.filter(account=account, pk=file_id).first()


def file_ids_unknown(*, account: Account, file_ids: Iterable[int]) -> list[int]:
    wanted = set(file_ids)
    if not wanted:
        return []
    found = set(AccountFile.objects.filter(account=account, pk__in=wanted).values_list("pk", flat=True))
    return sorted(wanted - found)
