"""Issuing certificates of certified messages (spec "Download certificates").

A message sent with `certified: true` gets its certificate once it has reached a final state
(`Message.final_at` is set: delivered, undelivered, bounced, rejected, expired or cancelled).
The certificate is issued at the first download after that and stored (`Certificate`); later
downloads serve the stored PDF, so every copy is byte-for-byte the same and its digest never
changes.

The record is what the digest certifies: the account, the sender, the recipient, the full
content (subject, body, attachments by name, size and SHA-256) and every event with its
timestamp. It is serialised canonically (JSON, keys sorted, no insignificant whitespace, UTF-8)
and hashed with SHA-256; the record text and the digest are stored, and the PDF shows both and
embeds the record as `record.json`, so anyone holding the PDF can recompute the digest.

Decisions where the spec is silent:
- A message that is not final yet answers 404 with a description saying so (the certificate does
  not exist yet); one that is not certified, unknown, another account's or of the other channel
  answers the plain 404 "Resource not found".
- Events recorded after the certificate was issued (an email opened later) are not added: a
  certificate, once issued, never changes.
- A {OTP_CODE} is certified as stored, masked: the clear code is never kept (see otp.services).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account
from campaigns.models import Channel
from certificates.models import Certificate
from certificates.pdf import certificate_pdf
from certificates.selectors import certified_message_get, message_events
from messaging.models import Message

RECORD_VERSION: Final = 1
SMS_CHANNELS: Final = (Channel.SMS, Channel.LANDING)
MAILING_CHANNELS: Final = (Channel.MAILING,)

NOT_FINAL: Final = (
    "Resource not found: the certificate is issued once the message has reached a final state "
    "(delivered, undelivered, bounced, rejected, expired or cancelled)."
)


class CertificateUnavailable(Exception):
    """No certificate to serve; `description` says why (for the caller's own messages only)."""

    def __init__(self, description: str = "Resource not found"):
        self.description = description
        super().__init__(description)


def _timestamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z") if value else None


def _attachment_entry(option: dict[str, Any]) -> dict[str, Any]:
    content = str(option.get("content") or "")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        data = content.encode()
    return {
        "name": option.get("name", ""),
        "contentType": option.get("content_type", ""),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def certificate_record_build(*, message: Message, issued_at: datetime) -> dict[str, Any]:
    """The certified facts about `message` (see the module docstring)."""
    options = message.options or {}
    content: dict[str, Any] = {"body": message.body}
    if message.channel == Channel.MAILING:
        content["subject"] = message.subject
        content["attachments"] = [_attachment_entry(item) for item in options.get("attachments") or []]
    else:
        content["encoding"] = message.encoding
        content["parts"] = message.parts
    sender: dict[str, Any] = {"address": message.sender}
    if message.channel == Channel.MAILING:
        sender["name"] = options.get("from_name") or ""
        sender["replyTo"] = options.get("reply_to") or ""
    return {
        "version": RECORD_VERSION,
        "issuedAt": _timestamp(issued_at),
        "account": {"id": message.account_id, "name": message.account.name},
        "message": {
            "id": message.public_id,
            "channel": message.channel,
            "campaignId": message.sending.campaign_id or 0,
            "sendingId": message.sending_id,
            "from": sender,
            "to": message.recipient,
            "content": content,
            "status": message.status,
            "createdAt": _timestamp(message.created_at),
            "sentAt": _timestamp(message.sent_at),
            "finalAt": _timestamp(message.final_at),
            "provider": message.provider,
            "providerMessageId": message.provider_message_id,
            "errorReason": message.error_reason,
        },
        "events": [
            {
                "type": event.type,
                "date": _timestamp(event.date),
                "provider": event.provider,
                "detail": event.url or str((event.extra or {}).get("reason") or ""),
            }
            for event in message_events(message=message)
        ],
    }


def record_canonical(record: dict[str, Any]) -> str:
    """The one text form of a record that is hashed and stored."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_digest(record_text: str) -> str:
    return hashlib.sha256(record_text.encode("utf-8")).hexdigest()


def certificate_issue(*, message: Message, now: datetime | None = None) -> Certificate:
    """The message's certificate, issued now if it has none. The message must be final."""
    if message.final_at is None:
        raise CertificateUnavailable(NOT_FINAL)
    existing = Certificate.objects.filter(message=message).first()
    if existing is not None:
        return existing
    now = now or timezone.now()
    try:
        with transaction.atomic():
            # The lock keeps the event-recording service (which locks messages too) from adding an
            # event between the read of the events and the commit of the certificate.
            # It also makes concurrent first downloads wait for the first one, then serve its copy.
            Message.objects.select_for_update().filter(pk=message.pk).values_list("pk", flat=True).first()
            existing = Certificate.objects.filter(message=message).first()
            if existing is not None:
                return existing
            record = certificate_record_build(message=message, issued_at=now)
            text = record_canonical(record)
            digest = record_digest(text)
            return Certificate.objects.create(
                account_id=message.account_id,
                message=message,
                record=text,
                digest=digest,
                pdf=certificate_pdf(record=record, record_text=text, digest=digest),
                issued_at=now,
            )
    except IntegrityError:
        # Issued meanwhile by a concurrent download: serve that one.
        return Certificate.objects.get(message=message)


def certificate_for_download(*, account: Account, public_id: str, channels: tuple[str, ...]) -> Certificate:
    """The certificate of the account's certified message `public_id` on `channels`, issued on
    first request; CertificateUnavailable otherwise."""
    message = certified_message_get(account=account, public_id=public_id, channels=channels)
    if message is None or not message.certified:
        raise CertificateUnavailable()
    return certificate_issue(message=message)


def certificate_verify(*, certificate: Certificate, record_text: str | None = None) -> bool:
    """Does `record_text` (default: the stored record) hash to the stored digest?"""
    text = certificate.record if record_text is None else record_text
    return record_digest(text) == certificate.digest
