"""The send pipeline's entry points: one accept path for every channel.

    validate → audience → suppress → render → measure / price → persist → enqueue

`run(request)` is a list send (up to 10,000 recipients, inside the request): the channel module
validates the request and renders each recipient; this module does what every channel shares.
The steps live beside it: validate.py (shared request rules), audience.py (recipients, contacts),
suppress.py (the rules), persist.py (Sending, messages, rule outcomes, debit, dispatch kick).
A channel is a module under channels/ with `clean`, `render`, `price`, `sending_fields`,
`message_options` and `message` (see `ChannelModule`), registered in `CHANNEL_MODULES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from types import ModuleType
from typing import Any, Final, Protocol

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from campaigns.errors import SendError
from campaigns.fanout import fanout_plan
from campaigns.models import Channel, Sending
from campaigns.outbox import NewMessage
from campaigns.pricing import certification_fee
from campaigns.sending import audience, persist, suppress
from campaigns.sending.channels import channel_spec
from campaigns.sending.channels import email as email_channel
from campaigns.sending.channels import sms as sms_channel
from campaigns.sending.request import SendRequest, Target
from campaigns.sending.results import SendOutcome, first_error_raise, outcome
from campaigns.sending.validate import invalid, otp_codes_issue
from compliance.protocol import Purpose
from contacts.models import Group
from otp.services import OtpConfig


class Prepared(Protocol):
    """What a channel's `clean` returns: at least these, plus whatever its render needs."""

    request: SendRequest
    recipients: list[Any]
    notification_urls: list[str]
    campaign_name: str | None
    tags: list[str]
    status: str
    due_at: datetime
    otp: OtpConfig | None
    purpose: str


class ChannelModule(Protocol):
    WITH_PARTS: bool

    def clean(self, request: SendRequest) -> Prepared: ...
    def render(self, prepared: Any, targets: Sequence[Target]) -> None: ...
    def price(self, prepared: Any, targets: Sequence[Target]) -> str: ...
    def sending_fields(self, prepared: Any, targets: Sequence[Target]) -> dict[str, Any]: ...
    def message_options(self, prepared: Any) -> dict[str, Any]: ...
    def message(
        self, prepared: Any, target: Target, *, sending_id: int, status: str, due_at: datetime, options: dict[str, Any]
    ) -> NewMessage: ...


CHANNEL_MODULES: Final[dict[str, ModuleType]] = {
    Channel.SMS: sms_channel,
    Channel.LANDING: sms_channel,
    Channel.MAILING: email_channel,
}


def run(request: SendRequest) -> SendOutcome:
    """A list send: one message per accepted recipient, in one transaction (a refused send writes
    nothing). Recipients refused alone (102, 113, ...) are in the outcome with their error; the
    send is refused with the first one's error when nobody is accepted."""
    module: Any = CHANNEL_MODULES[request.channel]
    column = channel_spec(request.channel).address
    account = request.account
    prepared = module.clean(request)  # validate
    targets = [
        Target(raw=raw, notification_url=url)
        for raw, url in zip(prepared.recipients, prepared.notification_urls, strict=True)
    ]
    audience.targets_normalise(targets, address=column)
    ctx = suppress.context(
        account_id=account.pk, channel=request.channel, purpose=prepared.purpose, now=prepared.due_at,
        ignore_holdout=request.ignore_holdout,
    )  # fmt: skip

    with transaction.atomic():
        audience.contacts_match(account=account, column=column, targets=targets)
        suppress.targets_suppress(ctx=ctx, targets=targets)
        module.render(prepared, targets)
        if prepared.otp is not None:
            otp_codes_issue(account=account, targets=targets, config=prepared.otp)
        accepted = [target for target in targets if target.error is None]
        if not accepted:
            first_error_raise(targets)
        currency = module.price(prepared, accepted)
        cost = sum((target.cost for target in accepted), Decimal(0))
        sending = persist.sending_create(
            request,
            campaign_name=prepared.campaign_name,
            tags=prepared.tags,
            purpose=prepared.purpose,
            total=len(accepted),
            cost=cost,
            currency=currency,
            **module.sending_fields(prepared, accepted),
        )
        audience.contacts_create_missing(account=account, column=column, targets=accepted)
        base_options = module.message_options(prepared)
        messages = []
        for target in accepted:
            status, due_at, options = persist.held_state(
                target.hold, status=prepared.status, due_at=prepared.due_at, options=base_options
            )
            messages.append(
                module.message(prepared, target, sending_id=sending.pk, status=status, due_at=due_at, options=options)
            )
        persist.messages_persist(
            account_id=account.pk,
            sending_id=sending.pk,
            messages=messages,
            rejections=[(target.public_id, target.skip.reason) for target in accepted if target.skip is not None],
            cost=cost,
            now=timezone.now(),
            marketing_channel=request.channel if prepared.purpose == Purpose.MARKETING else None,
        )
    return outcome(
        sending,
        targets,
        schedule_at=request.schedule_at,
        expires_at=request.expires_at,
        with_parts=module.WITH_PARTS,
    )


def plan(request: SendRequest) -> Sending:
    """A group send: every contact with the channel's address in `request.group_ids` (None: all
    contacts), validated like the list send of the channel; the Sending and its fan-out chunks are
    created here, the messages by the chunk tasks (campaigns.fanout), which run the same rules."""
    module: Any = CHANNEL_MODULES[request.channel]
    account = request.account
    cleaned = module.plan_clean(request)
    groups = _groups_clean(account=account, group_ids=request.group_ids)
    cleaned.options["fanout"]["group_ids"] = groups
    with transaction.atomic():
        sending = persist.sending_create(
            request,
            campaign_name=cleaned.campaign_name,
            tags=cleaned.tags,
            purpose=request.purpose,
            currency=account.currency,
            expires_at=request.expires_at,
            options=cleaned.options,
        )
        fanout = fanout_plan(sending=sending, group_ids=groups)
        floor = module.cheapest_per_recipient(cleaned, account=account) + certification_fee(certified=request.certified)
        _group_send_affordable(account=account, recipients=fanout.recipients, per_recipient=floor)
        sending.options["fanout"]["chunks"] = fanout.chunks
        Sending.objects.filter(pk=sending.pk).update(options=sending.options)
    return sending


def _groups_clean(*, account: Account, group_ids: Sequence[int] | None) -> list[int] | None:
    if group_ids is None:
        return None
    ids = sorted({int(group_id) for group_id in group_ids})
    found = set(Group.objects.filter(account=account, pk__in=ids).values_list("pk", flat=True))
    if not ids or found != set(ids):
        raise invalid("The selected groups are invalid.", field="groups")
    return ids


def _group_send_affordable(*, account: Account, recipients: int, per_recipient: Decimal) -> None:
    """Refuse (111) a group send the balance cannot pay even at the cheapest price (plus the
    certification fee): the exact cost is only known per chunk, which debits it; this catches the
    obvious case before any work."""
    if not recipients or not per_recipient:
        return
    if Account.objects.filter(pk=account.pk, balance__gte=per_recipient * recipients).exists():
        return
    raise SendError(111)
