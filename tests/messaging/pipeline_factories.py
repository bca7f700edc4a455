"""Builders for the sending-pipeline tests: sendings and messages written directly, as the send
API (another module) will write them."""

import itertools
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Account
from campaigns.models import Channel, Sending, SendingStatus
from messaging.models import Message, MessageStatus, ProviderRoute

_numbers = itertools.count(1)


def make_sending(account: Account, *, channel: str = Channel.SMS, total: int = 0, **fields: Any) -> Sending:
    return Sending.objects.create(
        account=account, channel=channel, total=total, status=fields.pop("status", SendingStatus.PENDING), **fields
    )


def make_messages(
    sending: Sending,
    count: int = 1,
    *,
    status: str = MessageStatus.QUEUED,
    due_at: datetime | None = None,
    update_total: bool = True,
    **fields: Any,
) -> list[Message]:
    now = timezone.now()
    messages = []
    for _ in range(count):
        number = next(_numbers)
        recipient = f"3466{number:07d}" if sending.channel != Channel.MAILING else f"user{number}@example.com"
        messages.append(
            Message(
                public_id=f"m{number:011d}",
                account_id=sending.account_id,
                sending=sending,
                channel=sending.channel,
                sender="ACME",
                recipient=fields.pop("recipient", recipient) if count == 1 else recipient,
                subject="Hello" if sending.channel == Channel.MAILING else "",
                body=f"Message {number}",
                status=status,
                due_at=due_at or now - timedelta(seconds=1),
                **fields,
            )
        )
    created = Message.objects.bulk_create(messages)
    if update_total:
        Sending.objects.filter(pk=sending.pk).update(total=Message.objects.filter(sending=sending).count())
        sending.refresh_from_db()
    return created


def route(channel: str, provider: str, settings: dict[str, Any] | None = None, account: Account | None = None):
    return ProviderRoute.objects.create(account=account, channel=channel, provider=provider, settings=settings or {})
