"""The send services the reference API, the web UI and the admin call: `sms_send` and `mailing_send`
(thin adapters building a campaigns.sending.SendRequest for the pipeline, campaigns.sending.pipeline),
group sends and scheduled-message changes. Names the callers import from here are re-exported.

A rule violation raises `SendError(code, description)` with the spec's code (102-142, or 422 for
a malformed field) and the domain reason and field (campaigns.errors); the API answers it in the
error envelope. Writes run in one transaction, so a refused send changes nothing: no contact,
campaign, sending, message or debit is left behind.

Decisions where the spec is silent:
- Recipients are refused one by one with code 102 and a description saying why: "No valid
  recipients" (malformed), "No valid recipients: the recipient is on the blacklist", "No valid
  recipients: duplicate recipient" (the same normalised address twice in one request; the first
  one is sent). 102 is the only recipient code of the spec's table, so clients that switch on
  codes keep working.
- A rendered SMS holding characters its encoding cannot carry is refused with 113, naming them,
  rather than sent with "?" in their place (use encoding utf-16 or trans=1).
- Without campaignName a send has no campaign: `campaignId` is 0, as the spec's event
  notifications say of such sends.
- A scheduleDate in the past sends at once; an expirationDate not after now and after the
  scheduleDate is refused (119).
- Placeholders of features not built yet ({LAND_URL} outside landing SMS) are refused (422)
  instead of reaching a phone as literal text; {OTP_CODE} is filled in POST /sms and /mailing
  (below) and refused in group sends and email subjects; {UNSUB_URL} and [unsubscribe_link] are
  filled with the message's signed unsubscribe link (tracking.links.unsubscribe_url);
  {FORM_<id>} (and [form_<id>] in email) with the recipient's personal form link
  (content.links), 422 for a form the account does not have.
- Email bodies go through content.email (custom links, CSS inlined, tracking, plain-text
  alternative in the message's options["text_body"]).
- {OTP_CODE} (with `otpConfig`, otp.services): one code per accepted recipient, issued at accept
  time in the send's transaction (a refused send leaves no code). The stored body holds the code
  masked and the message's options hold it encrypted until dispatch (otp.services). A recipient
  over the OTP rate limits is refused alone with 429 (the answer is 429 when none is accepted,
  with Retry-After), one with a pending code under rejectIfPendingCode with 422. A send that
  would not go at once (scheduleDate, availableTimes) cannot carry a code that expires in
  minutes: 422. An otpConfig without {OTP_CODE} in the text is ignored.
- Values from the contact are HTML-escaped in an email body; `sub` values are the caller's own
  and are inserted as given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import Account
from campaigns import outbox
from campaigns.errors import SendError
from campaigns.models import Channel, Sending, SendingStatus
from campaigns.sending import pipeline
from campaigns.sending.audience import MAX_RECIPIENTS
from campaigns.sending.channels.email import (
    MAX_ATTACHMENTS,
    MAX_ATTACHMENTS_BYTES,
    MAX_SUBJECT_LENGTH,
    Attachment,
    attachments_clean,
    mail_sender_clean,
    mail_template_body,
    subject_clean,
)
from campaigns.sending.channels.sms import (
    MAX_PARTS,
    encoding_clean,
    parts_clean,
    sms_sender_clean,
)
from campaigns.sending.persist import account_credit, account_debit, campaign_get_or_create
from campaigns.sending.request import SendRequest
from campaigns.sending.results import RecipientResult, SendOutcome
from campaigns.sending.validate import (
    MAX_TAGS,
    OTP_RESERVED,
    SUPPORTED_RESERVED,
    available_times_clean,
    expiry_check,
    form_links_check,
    message_status,
    notification_urls_clean,
    sub_clean,
    template_compile,
)
from compliance.selectors import default_purpose
from messaging.models import Message, MessageStatus

# Re-exported: callers of the send services import these names from here.
__all__ = [
    "MAX_ATTACHMENTS", "MAX_ATTACHMENTS_BYTES", "MAX_PARTS", "MAX_RECIPIENTS", "MAX_SUBJECT_LENGTH", "MAX_TAGS",
    "OTP_RESERVED", "SUPPORTED_RESERVED", "Attachment", "RecipientResult", "SendError", "SendOutcome",
    "account_debit", "attachments_clean", "available_times_clean", "campaign_get_or_create", "encoding_clean",
    "expiry_check", "form_links_check", "mail_sender_clean", "mail_template_body", "mailing_group_send",
    "mailing_send", "notification_urls_clean", "parts_clean", "scheduled_cancel", "scheduled_reschedule",
    "sms_group_send", "sms_send", "sms_sender_clean", "sub_clean", "subject_clean", "template_compile",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# SMS: the reference API's adapter onto the pipeline (campaigns.sending)


def sms_send(
    *,
    account: Account,
    message: Any,
    to: Any,
    sender: Any,
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
    available_times: Any = None,
    otp_config: dict | None = None,
    channel: str = Channel.SMS,
    parts_limit: int = MAX_PARTS,
    land_url: Callable[[str], str] | None = None,
    supported_reserved: frozenset[str] = SUPPORTED_RESERVED | OTP_RESERVED,
    purpose: str | None = None,
    source: str = "api",
) -> SendOutcome:
    """POST /sms: one message per valid recipient, priced per part (plus the certification fee when
    `certified`) and paid from the balance. Landing SMS (campaigns.sending.channels.landing.landing_sms_send) comes
    through here too, on its own `channel`, with `land_url(public id)` giving each recipient's {LAND_URL}.
    The work is the pipeline's (campaigns.sending.pipeline.run with the SMS channel module)."""
    return pipeline.run(
        SendRequest(
            channel=channel, account=account, recipients=to, text=message, sender=sender, encoding=encoding,
            schedule_at=schedule_at, expires_at=expires_at, parts=parts, split_parts=split_parts,
            notification_url=notification_url, trans=trans, campaign_name=campaign_name, tags=tags,
            certified=certified, sub=sub, flash=flash, available_times=available_times, otp_config=otp_config,
            parts_limit=parts_limit, land_url=land_url, supported_reserved=supported_reserved,
            purpose=purpose or default_purpose(account_id=account.pk), source=source,
        )
    )  # fmt: skip


def mailing_send(
    *,
    account: Account,
    to: Any,
    from_email: Any,
    reply_to: Any,
    subject: Any,
    body: Any = None,
    template_id: Any = None,
    template_v2_id: Any = None,
    from_name: Any = None,
    cc: Any = None,
    bcc: Any = None,
    schedule_at: datetime | None = None,
    campaign_name: Any = None,
    tags: Any = None,
    certified: bool = False,
    sub: Any = None,
    attachments: Any = None,
    track_opens: bool = True,
    track_clicks: bool = True,
    otp_config: dict | None = None,
    purpose: str | None = None,
) -> SendOutcome:
    """POST /mailing: one email per valid recipient, each with its unsubscribe link and the
    List-Unsubscribe / List-Unsubscribe-Post (one-click) headers. An email costs nothing unless
    `certified`: then the certification fee, paid from the balance like an SMS (111 without it).
    The work is the pipeline's (campaigns.sending.pipeline.run with the email channel module)."""
    return pipeline.run(
        SendRequest(
            channel=Channel.MAILING, account=account, recipients=to, sender=from_email, reply_to=reply_to,
            subject=subject, text=body, template_id=template_id, template_v2_id=template_v2_id,
            sender_name=from_name, cc=cc, bcc=bcc, schedule_at=schedule_at, campaign_name=campaign_name, tags=tags,
            certified=certified, sub=sub, attachments=attachments, track_opens=track_opens,
            track_clicks=track_clicks, otp_config=otp_config, purpose=purpose or default_purpose(account_id=account.pk),
        )
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Group sends (UI and later API paths): the Sending here, the messages in fan-out chunk tasks


def sms_group_send(
    *,
    account: Account,
    group_ids: Sequence[int] | None,
    message: str,
    sender: str,
    encoding: str | None = None,
    parts: int | None = None,
    schedule_at: datetime | None = None,
    expires_at: datetime | None = None,
    campaign_name: str | None = None,
    tags: Sequence[str] | None = None,
    trans: bool = False,
    flash: bool = False,
    split_parts: bool = False,
    certified: bool = False,
    notification_url: str | None = None,
    available_times: Any = None,
    purpose: str | None = None,
) -> Sending:
    """Send `message` to every contact with a phone in `group_ids` (None: all contacts) except the
    blacklisted ones. Validates like POST /sms, creates the Sending and its fan-out chunks; the
    messages are written by the chunk tasks (campaigns.fanout). See campaigns.sending.pipeline.plan."""
    return pipeline.plan(
        SendRequest(
            channel=Channel.SMS, account=account, group_ids=group_ids, text=message, sender=sender,
            encoding=encoding, parts=parts, schedule_at=schedule_at, expires_at=expires_at,
            campaign_name=campaign_name, tags=list(tags) if tags is not None else None, trans=trans, flash=flash,
            split_parts=split_parts, certified=certified, notification_url=notification_url,
            available_times=available_times, source="group",
            purpose=purpose or default_purpose(account_id=account.pk),
        )
    )  # fmt: skip


def mailing_group_send(
    *,
    account: Account,
    group_ids: Sequence[int] | None,
    from_email: str,
    reply_to: str,
    subject: str,
    body: str,
    from_name: str | None = None,
    schedule_at: datetime | None = None,
    campaign_name: str | None = None,
    tags: Sequence[str] | None = None,
    certified: bool = False,
    track_opens: bool = True,
    track_clicks: bool = True,
    purpose: str | None = None,
) -> Sending:
    """Send an email to every contact with an email in `group_ids` (None: all) except the
    blacklisted ones; validated like POST /mailing, written by the fan-out chunk tasks."""
    return pipeline.plan(
        SendRequest(
            channel=Channel.MAILING, account=account, group_ids=group_ids, sender=from_email, reply_to=reply_to,
            subject=subject, text=body, sender_name=from_name, schedule_at=schedule_at, campaign_name=campaign_name,
            tags=list(tags) if tags is not None else None, certified=certified, track_opens=track_opens,
            track_clicks=track_clicks, source="group", purpose=purpose or default_purpose(account_id=account.pk),
        )
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Scheduled messages


def scheduled_reschedule(*, messages: QuerySet[Message], schedule_at: datetime) -> int:
    """Move the scheduled `messages` (a queryset from campaigns.selectors.scheduled_messages) to
    `schedule_at`, each still inside its sending's availableTimes; one in the past is released at
    once. Returns how many changed. Messages a dispatcher released meanwhile are left alone."""
    now = timezone.now()
    updated = 0
    with transaction.atomic():
        sendings = Sending.objects.filter(pk__in=messages.values("sending_id")).values_list(
            "pk", "options", "expires_at"
        )
        for sending_id, options, expires_at in sendings:
            status, due_at = message_status(
                schedule_at=schedule_at, expires_at=expires_at, windows=(options or {}).get("available_times"), now=now
            )
            updated += messages.filter(sending_id=sending_id, status=MessageStatus.SCHEDULED).update(
                scheduled_at=schedule_at, due_at=due_at, status=status, updated_at=now
            )
            Sending.objects.filter(pk=sending_id).update(scheduled_at=schedule_at, updated_at=now)
        if schedule_at <= now and updated:
            outbox.dispatch_kick_on_commit()
    return updated


def scheduled_cancel(*, account: Account, messages: QuerySet[Message]) -> int:
    """Cancel the scheduled `messages`: they become `cancelled` (kept as the record), their cost
    goes back to the balance and their sendings' totals drop; a sending left with nothing to send
    is CANCELLED. Returns how many were cancelled."""
    now = timezone.now()
    with transaction.atomic():
        per_sending = _cancel_returning(messages=messages, now=now)
        for sending_id, (count, parts, cost) in per_sending.items():
            Sending.objects.filter(pk=sending_id).update(
                total=F("total") - count,
                total_sms_parts=F("total_sms_parts") - parts,
                cost=F("cost") - cost,
                updated_at=now,
            )
            # One ledger entry per sending, so each refund names what it refunds.
            account_credit(account_id=account.pk, amount=cost, sending_id=sending_id)
        emptied = Sending.objects.filter(pk__in=list(per_sending)).exclude(
            Exists(Message.objects.filter(sending_id=OuterRef("pk")).exclude(status=MessageStatus.CANCELLED))
        )
        emptied.update(status=SendingStatus.CANCELLED, finished_at=now, updated_at=now)
    return sum(count for count, _parts, _cost in per_sending.values())


def _cancel_returning(*, messages: QuerySet[Message], now: datetime) -> dict[int, tuple[int, int, Decimal]]:
    """{sending id: (messages, SMS parts, cost)} of the messages cancelled, read from the UPDATE itself
    on PostgreSQL so a message released meanwhile is neither cancelled nor refunded."""
    scheduled = messages.filter(status=MessageStatus.SCHEDULED)
    if connection.vendor != "postgresql":
        rows = list(scheduled.select_for_update().values_list("pk", "sending_id", "channel", "parts", "cost"))
        Message.objects.filter(pk__in=[row[0] for row in rows]).update(
            status=MessageStatus.CANCELLED, final_at=now, updated_at=now
        )
        totals: dict[int, tuple[int, int, Decimal]] = {}
        for _pk, sending_id, channel, parts, cost in rows:
            count, total_parts, total_cost = totals.get(sending_id, (0, 0, Decimal(0)))
            sms_parts = 0 if channel == Channel.MAILING else parts
            totals[sending_id] = (count + 1, total_parts + sms_parts, total_cost + cost)
        return totals
    try:
        select_sql, params = scheduled.values("pk").query.sql_with_params()
    except EmptyResultSet:  # a filter Django knows matches nothing (found by tests/fuzz): nothing to cancel
        return {}
    table = Message._meta.db_table
    sql = (
        f"WITH cancelled AS (UPDATE {table} SET status = %s, final_at = %s, updated_at = %s "  # noqa: S608
        f"WHERE id IN ({select_sql}) AND status = %s RETURNING sending_id, channel, parts, cost) "
        "SELECT sending_id, COUNT(*), SUM(CASE WHEN channel = %s THEN 0 ELSE parts END), SUM(cost) "
        "FROM cancelled GROUP BY sending_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [MessageStatus.CANCELLED, now, now, *params, MessageStatus.SCHEDULED, Channel.MAILING])
        return {sending_id: (count, int(parts), Decimal(cost)) for sending_id, count, parts, cost in cursor.fetchall()}
