"""Reads for certificates: the caller's message behind a certificate URL, and its events."""

from __future__ import annotations

from collections.abc import Iterable

from accounts.models import Account
from messaging.models import Event, Message

PUBLIC_ID_MAX_LENGTH = 16


def certified_message_get(*, account: Account, public_id: str, channels: Iterable[str]) -> Message | None:
    """The account's message `public_id` on one of `channels`, or None (missing, another account's
    or another channel's message all look the same)."""
    # A NUL byte cannot be in any id, and PostgreSQL refuses it in a query (500 otherwise).
    if not public_id or len(public_id) > PUBLIC_ID_MAX_LENGTH or "\x00" in public_id:
        return None
    return (
        Message.objects.select_related("account", "sending", "certificate")
        .filter(account=account, public_id=public_id, channel__in=list(channels))
        .first()
    )


def message_events(*, message: Message) -> list[Event]:
    """Every event of the message, in the order it happened."""
    return list(Event.objects.filter(message=message).order_by("date", "id"))
