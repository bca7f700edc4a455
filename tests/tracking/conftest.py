"""Helpers for the tracking tests: messages to track, short links, requests from browsers."""

from typing import Any

import pytest

from accounts.models import Account
from campaigns.services import sms_send
from messaging.models import Message

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
WINDOWS_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"


@pytest.fixture(autouse=True)
def _public_url(settings, tmp_path):
    settings.PUBLIC_URL = "https://go.example.org"
    settings.SHORT_URL_BASE = ""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def mail_account(account: Account) -> Account:
    from accounts.services import verified_sender_add

    verified_sender_add(account=account, email="info@sample.com")
    verified_sender_add(account=account, email="replyto@example.com")
    return account


def sms_message(account: Account, to: str = "34666555444", **fields: Any) -> Message:
    outcome = sms_send(account=account, message=fields.pop("message", "Hello"), to=[to], sender="TEST", **fields)
    return Message.objects.get(public_id=outcome.results[0].message_id)


def path_of(url: str) -> str:
    """The path of one of our absolute URLs (the test client speaks to the site root)."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]
