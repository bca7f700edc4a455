"""Races through the real HTTP API of a live server (each request its own thread and database
connection, released together by a barrier): wrong one-time-code guesses at once, and sends at once
against a balance that cannot pay for all of them.

Counts: 50 concurrent wrong checks of a code allowing 3 attempts; 12 concurrent one-recipient SMS
sends against a balance that covers 5.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
import requests

from accounts.models import BalanceEntry, LedgerReason
from accounts.services import balance_set
from campaigns.pricing import sms_price_table
from messaging.models import Message
from otp.models import OtpCode, OtpStatus
from otp.services import OtpConfig, otp_generate
from tests.accounts.test_ledger import assert_ledger_matches, fresh_balance
from tests.conftest import API_PASSWORD, basic_auth
from tests.otp.conftest import CHECK_URL, wrong_code
from tests.otp.test_concurrency import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)

GUESSES = 50
MAX_ATTEMPTS = 3
SENDS = 12
AFFORDABLE = 5
RECIPIENT = "34666555444"


def api_post(server_url: str, api_user, path: str, body: dict) -> requests.Response:
    return requests.post(
        f"{server_url}{path}",
        json=body,
        headers={"Authorization": basic_auth(api_user.username, API_PASSWORD)},
        timeout=60,
    )


def test_50_concurrent_wrong_otp_checks_evaluate_at_most_the_allowed_attempts_and_the_right_code_then_fails(
    server_url, api_user, account, fault_figures
):
    issued = otp_generate(account=account, recipient=RECIPIENT, config=OtpConfig(max_attempts=MAX_ATTEMPTS))
    guess = wrong_code(issued.code)

    def check(_: int) -> tuple[int, str]:
        response = api_post(server_url, api_user, CHECK_URL, {"recipient": RECIPIENT, "code": guess})
        return response.status_code, response.json()["data"]["reason"] if response.status_code == 200 else ""

    answers = run_at_once(check, GUESSES)
    right = api_post(server_url, api_user, CHECK_URL, {"recipient": RECIPIENT, "code": issued.code})

    otp = OtpCode.objects.get()
    reasons = Counter(answer[1] for answer in answers if isinstance(answer, tuple))
    fault_figures(
        "50 concurrent wrong OTP checks",
        checks=GUESSES,
        answered_200=sum(1 for answer in answers if isinstance(answer, tuple) and answer[0] == 200),
        evaluated=reasons["Invalid code"],
        refused_max_attempts=reasons["Maximum attempts reached"],
        attempts_stored=otp.attempts,
        right_code_then=right.json()["data"]["reason"],
    )
    assert [answer[0] for answer in answers] == [200] * GUESSES, answers
    assert reasons == {"Invalid code": MAX_ATTEMPTS, "Maximum attempts reached": GUESSES - MAX_ATTEMPTS}
    assert (otp.attempts, otp.status) == (MAX_ATTEMPTS, OtpStatus.PENDING)
    assert right.status_code == 200
    assert right.json()["data"]["valid"] is False
    assert right.json()["data"]["reason"] == "Maximum attempts reached"


def test_12_concurrent_sends_against_a_balance_that_covers_5_accept_exactly_5(
    server_url, api_user, account, fault_figures
):
    # Read, not a constant: a transactional test may run after another one flushed the seeded prices.
    price = sms_price_table(account=account).cost("ES", 1)
    balance_set(account_id=account.pk, balance=AFFORDABLE * price + Decimal("0.01"))

    def send(index: int) -> int:
        body = {"to": [f"3466655{index:04d}"], "message": "Hi", "from": "ACME"}
        return api_post(server_url, api_user, "/api/rest/sms", body).status_code

    statuses = run_at_once(send, SENDS)

    debits = BalanceEntry.objects.filter(account=account, reason=LedgerReason.SENDING).count()
    fault_figures(
        "12 concurrent sends, balance for 5",
        sends=SENDS,
        accepted=statuses.count(202),
        refused_402=statuses.count(402),
        messages=Message.objects.filter(account=account).count(),
        debits=debits,
        balance_left=str(fresh_balance(account)),
    )
    assert sorted(statuses) == [202] * AFFORDABLE + [402] * (SENDS - AFFORDABLE), statuses
    assert Message.objects.filter(account=account).count() == AFFORDABLE
    assert debits == AFFORDABLE
    assert fresh_balance(account) == Decimal("0.01")
    assert_ledger_matches(account)
