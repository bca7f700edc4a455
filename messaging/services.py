"""Sending lifecycle: pause, resume, cancel. The dispatcher moves PENDING -> SENDING -> FINISHED
(messaging.dispatch.sendings_progress); these are the operator's and API's moves.

Pausing moves the sending's QUEUED messages back to SCHEDULED (their due_at kept), so the hot
claim query only ever sees claimable rows; the claim and the release also skip messages of
paused or cancelled sendings, which covers a message released in the instant before the pause.
Messages already IN_FLIGHT finish normally: a pause or a cancel stops what has not been handed
to a provider yet, it cannot recall what has.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from campaigns.models import Sending, SendingStatus
from messaging.models import PENDING_STATUSES, Message, MessageStatus, ProviderRoute

PAUSABLE = (SendingStatus.PENDING, SendingStatus.SENDING, SendingStatus.OPENED)
CANCELLABLE = (*PAUSABLE, SendingStatus.PAUSED, SendingStatus.SAVED, SendingStatus.WAITING, SendingStatus.AUTOMATED)
PAUSED_FROM_KEY = "paused_from"


def _locked(sending: Sending) -> Sending:
    return Sending.objects.select_for_update().get(pk=sending.pk)


@transaction.atomic
def sending_pause(*, sending: Sending) -> Sending:
    """Stop handing the sending's messages to providers until it is resumed; idempotent."""
    sending = _locked(sending)
    if sending.status == SendingStatus.PAUSED:
        return sending
    if sending.status not in PAUSABLE:
        raise ValidationError(f"A {sending.status} sending cannot be paused.")
    now = timezone.now()
    sending.options = {**sending.options, PAUSED_FROM_KEY: sending.status}
    sending.status = SendingStatus.PAUSED
    sending.save(update_fields=["status", "options", "updated_at"])
    Message.objects.filter(sending=sending, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SCHEDULED, updated_at=now
    )
    return sending


@transaction.atomic
def sending_resume(*, sending: Sending) -> Sending:
    """Let a paused sending go on: its due messages are released at once and a dispatch is
    kicked when the transaction commits."""
    from messaging.scheduling import scheduled_release
    from messaging.tasks import kick_dispatch

    sending = _locked(sending)
    if sending.status != SendingStatus.PAUSED:
        raise ValidationError(f"A {sending.status} sending cannot be resumed.")
    options = dict(sending.options)
    previous = options.pop(PAUSED_FROM_KEY, None)
    if previous not in PAUSABLE:
        previous = SendingStatus.SENDING if sending.started_at else SendingStatus.PENDING
    now = timezone.now()
    if previous != SendingStatus.OPENED and sending.total and sending.processed >= sending.total:
        # Its last messages were in flight when it was paused and have been settled since.
        sending.status, sending.finished_at = SendingStatus.FINISHED, now
    else:
        sending.status = previous
    sending.options = options
    sending.save(update_fields=["status", "options", "finished_at", "updated_at"])
    if scheduled_release(sending_id=sending.pk, now=now).get("queued"):
        kick_dispatch()
    return sending


@transaction.atomic
def sending_cancel(*, sending: Sending) -> Sending:
    """Cancel every message of the sending that has not been handed to a provider; idempotent."""
    sending = _locked(sending)
    if sending.status == SendingStatus.CANCELLED:
        return sending
    if sending.status not in CANCELLABLE:
        raise ValidationError(f"A {sending.status} sending cannot be cancelled.")
    now = timezone.now()
    options = {k: v for k, v in sending.options.items() if k != PAUSED_FROM_KEY}
    sending.status, sending.finished_at, sending.options = SendingStatus.CANCELLED, now, options
    sending.save(update_fields=["status", "finished_at", "options", "updated_at"])
    Message.objects.filter(sending=sending, status__in=PENDING_STATUSES).update(
        status=MessageStatus.CANCELLED, final_at=now, updated_at=now
    )
    return sending


# ---------------------------------------------------------------------------------------------
# Provider choice per account and channel (the staff settings page; operators also use the admin)


def providers_for_channel(channel: str) -> list[str]:
    """Names of the registered providers that carry `channel`, simulator first."""
    from messaging.providers import PROVIDERS, provider_class

    names = [name for name in PROVIDERS if channel in provider_class(name).channels]
    return sorted(names, key=lambda name: (name != "simulator", name))


@transaction.atomic
def provider_route_set(*, account: Account, channel: str, provider: str | None) -> ProviderRoute | None:
    """Route the account's `channel` through `provider`, or (None) back to the platform default.

    The route's settings (credentials, endpoints) are kept only while the provider stays the same:
    another provider's credentials mean nothing to the new one, which then reads its own from the
    environment or from what an operator sets in the admin.
    """
    if provider is None:
        ProviderRoute.objects.filter(account=account, channel=channel).delete()
        return None
    if provider not in providers_for_channel(channel):
        raise ValidationError(f"{provider} does not carry {channel} messages.")
    route = ProviderRoute.objects.select_for_update().filter(account=account, channel=channel).first()
    if route is None:
        return ProviderRoute.objects.create(account=account, channel=channel, provider=provider)
    if route.provider != provider:
        route.provider, route.settings = provider, {}
        route.save(update_fields=["provider", "settings", "updated_at"])
    return route
