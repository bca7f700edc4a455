"""The pipeline's "persist" and "enqueue" steps: the campaign by name, the Sending row, the messages
(campaigns.outbox: one COPY), the rule outcomes, the balance debit and the dispatcher's wake-up, all in
the send's one transaction, so a refused send (111: not enough credit) leaves nothing behind.

How a rule's verdict is stored (campaigns.sending.suppress decides, this module writes):
- Hold(until, reason): the message is `scheduled`, due at `until` (or later, when the send itself
  waits longer), with options["held"] = {"reason": ..., "until": ISO 8601}; the scheduler
  releases it like any scheduled message, and it is priced and paid like the others.
- Skip(reason): the message is written as the record (rendered, cost 0, not paid) and moved to
  `rejected` by a `rejected` event with extra {"reason": ...} through messaging.events (the one
  event recorder: the sending's `rejected` counter, notifications); it counts as processed, so
  the sending's totals add up: total = sent + held + rejected by reason + ...
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Account, LedgerReason
from accounts.services import balance_credit, balance_debit
from campaigns import outbox
from campaigns.errors import SendError
from campaigns.models import Campaign, Sending, SendingStatus
from campaigns.outbox import NewMessage, messages_insert
from campaigns.sending.request import SendRequest, Target
from campaigns.sending.validate import with_otp
from compliance.protocol import Hold
from compliance.rules import touches_record
from messaging.dispatch import sendings_progress
from messaging.events import events_record
from messaging.models import EventType, MessageStatus
from messaging.providers.base import DeliveryEvent

HELD_OPTION = "held"  # Message.options key of a message a rule holds: {"reason", "until"}
PROVIDER = "pipeline"  # DeliveryEvent.provider of the events the pipeline records


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


def sending_create(
    request: SendRequest, *, campaign_name: str | None, tags: list[str], purpose: str, **fields: Any
) -> Sending:
    """The Sending of `request` (PENDING), in its campaign when it names one."""
    account = request.account
    campaign = campaign_get_or_create(account=account, name=campaign_name, tags=tags) if campaign_name else None
    return Sending.objects.create(
        account=account,
        campaign=campaign,
        channel=request.channel,
        status=SendingStatus.PENDING,
        purpose=purpose,
        tags=tags,
        scheduled_at=request.schedule_at,
        **fields,
    )


def message_new(
    request: SendRequest,
    target: Target,
    *,
    sending_id: int,
    sender: str,
    encoding: str,
    options: dict[str, Any],
    status: str,
    due_at: datetime,
) -> NewMessage:
    """A list send's message row for `target`, with the channel's sender, encoding and options."""
    return NewMessage(
        public_id=target.public_id,
        account_id=request.account.pk,
        sending_id=sending_id,
        contact_id=target.contact["id"],
        channel=request.channel,
        sender=sender,
        recipient=target.key,
        subject=target.subject,
        body=target.body,
        encoding=encoding,
        parts=target.parts,
        options=with_otp(options, target),
        status=status,
        scheduled_at=request.schedule_at,
        expires_at=request.expires_at,
        due_at=due_at,
        cost=target.cost,
        notification_url=target.notification_url,
        certified=request.certified,
    )


def held_state(
    hold: Hold | None, *, status: str, due_at: datetime, options: dict[str, Any]
) -> tuple[str, datetime, dict[str, Any]]:
    """(status, due_at, options) of a message, after a rule's hold when it has one."""
    if hold is None:
        return status, due_at, options
    until = max(hold.until, due_at)
    return MessageStatus.SCHEDULED, until, {**options, HELD_OPTION: {"reason": hold.reason, "until": until.isoformat()}}


def rejections_record(
    *, sending_id: int, rejections: Sequence[tuple[str, str]], now: datetime, progress: bool = True
) -> None:
    """Move the messages a rule skipped, (public id, reason) each, to `rejected` with their event,
    and count them as processed (they never reach the dispatcher; `progress` False: the caller
    counts them itself, once the sending's total includes them)."""
    if not rejections:
        return
    events_record(
        events=[
            DeliveryEvent(
                type=EventType.REJECTED,
                occurred_at=now,
                provider=PROVIDER,
                message_public_id=public_id,
                reason=reason,
                extra={"reason": reason},
            )
            for public_id, reason in rejections
        ]
    )
    if progress:
        rejections_progress(sending_id=sending_id, count=len(rejections), now=now)


def rejections_progress(*, sending_id: int, count: int, now: datetime) -> None:
    """Count rejected messages as processed (messaging.dispatch.sendings_progress), as the dispatcher
    counts the messages that leave the outbox."""
    sendings_progress(processed={sending_id: count}, now=now)


def messages_persist(
    *,
    account_id: int,
    sending_id: int,
    messages: Sequence[NewMessage],
    rejections: Sequence[tuple[str, str]],
    cost: Decimal,
    now: datetime,
    marketing_channel: str | None = None,
) -> None:
    """Insert the messages, record the rule rejections, count the marketing ones for frequency caps
    (`marketing_channel`: the send's channel when it is marketing), debit `cost` (111 when the
    balance cannot pay it: the whole send rolls back) and wake the dispatcher for the queued ones."""
    messages_insert(messages)
    rejections_record(sending_id=sending_id, rejections=rejections, now=now)
    rejected = {public_id for public_id, _reason in rejections}
    if marketing_channel is not None:
        touches_record(
            account_id=account_id,
            channel=marketing_channel,
            day=now.date(),
            contact_ids=[m.contact_id for m in messages if m.contact_id is not None and m.public_id not in rejected],
        )
    # Last, so the account row is locked only for the commit; refused, it rolls everything back.
    if not account_debit(account_id=account_id, amount=cost, sending_id=sending_id):
        raise SendError(111)
    if any(message.status == MessageStatus.QUEUED and message.public_id not in rejected for message in messages):
        outbox.dispatch_kick_on_commit()


# ---------------------------------------------------------------------------------------------
# Balance


def account_debit(*, account_id: int, amount: Decimal, sending_id: int | None = None) -> bool:
    """Take `amount` from the balance if it is there, with its ledger entry: one conditional UPDATE,
    so two concurrent sends can never both spend the same credit. False (nothing changed) when it
    is not."""
    return balance_debit(account_id=account_id, amount=amount, reason=LedgerReason.SENDING, sending_id=sending_id)


def account_credit(*, account_id: int, amount: Decimal, sending_id: int | None = None) -> None:
    """Give `amount` back (cancelled scheduled messages), with its ledger entry."""
    balance_credit(account_id=account_id, amount=amount, reason=LedgerReason.SENDING_REFUND, sending_id=sending_id)
