"""Shared helpers for the sending API tests: the spec's samples as fixtures, and small builders."""

from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account
from campaigns.models import Sending
from contacts.models import BlacklistEntry, Contact
from messaging.models import Event, Message

# "Send SMS Message" request sample.
SMS_SAMPLE_REQUEST = {"to": ["34666555444"], "from": "TEST", "message": "SMS text message"}
# "Send Email message" request sample (fromEmail/replyTo are verified senders in `mail_account`).
MAILING_SAMPLE_REQUEST = {
    "to": ["test@example.com"],
    "fromName": "Info",
    "fromEmail": "info@sample.com",
    "body": '<html><head><title>TEST</title></head><body><a href="https://example.com">link</a></body></html>',
    "replyTo": "replyto@example.com",
    "subject": "TEST",
}
ES_PRICE = Decimal("0.04500")  # the seeded platform price of Spain (campaigns/migrations/0003_pricing.py)


@pytest.fixture
def mail_account(account: Account) -> Account:
    from accounts.services import verified_sender_add

    verified_sender_add(account=account, email="info@sample.com")
    verified_sender_add(account=account, email="replyto@example.com")
    return account


def post_sms(client, **body: Any):
    return client.post("/api/rest/sms", body, format="json")


def post_mailing(client, **body: Any):
    return client.post("/api/rest/mailing", body, format="json")


def error_of(response) -> tuple[int, int]:
    """(HTTP status, spec error code) of an error answer."""
    return response.status_code, response.json()["error"]["code"]


def nothing_written(account: Account) -> bool:
    return not Sending.objects.filter(account=account).exists() and not Message.objects.filter(account=account).exists()


def blacklist(account: Account, type: str, recipient: str) -> BlacklistEntry:
    return BlacklistEntry.objects.create(account=account, type=type, recipient=recipient)


def contact(account: Account, **fields: Any) -> Contact:
    return Contact.objects.create(account=account, **fields)


def event(message: Message, type: str, **fields: Any) -> Event:
    return Event.objects.create(
        account_id=message.account_id,
        message=message,
        sending_id=message.sending_id,
        type=type,
        date=fields.pop("date", timezone.now()),
        **fields,
    )
