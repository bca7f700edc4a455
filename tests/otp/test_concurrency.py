"""Races on PostgreSQL: real transactions in parallel threads (one connection each)."""

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from otp.models import OtpCode, OtpStatus
from otp.services import OtpConfig, OtpError, otp_check, otp_generate
from tests.otp.conftest import wrong_code

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and concurrent transactions"),
]

THREADS = 12
RECIPIENT = "34666555444"


@pytest.fixture(autouse=True)
def _generous_limits(settings):
    settings.OTP_MAX_CODES_PER_RECIPIENT = 100
    settings.OTP_MAX_CODES_PER_ACCOUNT = 100


def run_at_once(work: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """Runs work(0..threads-1) in threads released together; returns results or exceptions."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    workers = [threading.Thread(target=target, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return results


def test_concurrent_checks_of_the_right_code_let_exactly_one_succeed(account):
    issued = otp_generate(account=account, recipient=RECIPIENT, config=OtpConfig(max_attempts=10))

    results = run_at_once(lambda _: otp_check(account=account, recipient=RECIPIENT, code=issued.code))

    assert not [result for result in results if isinstance(result, Exception)], results
    assert [result.valid for result in results].count(True) == 1
    # The losers find no pending code and get the answer of a check without one (after three,
    # like a real code, "Maximum attempts reached").
    assert Counter(result.reason for result in results) == {
        "Valid": 1,
        "Invalid code": 3,
        "Maximum attempts reached": THREADS - 4,
    }
    otp = OtpCode.objects.get()
    assert (otp.status, otp.attempts) == (OtpStatus.VERIFIED, 1)


def test_concurrent_wrong_guesses_never_exceed_max_attempts(account):
    issued = otp_generate(account=account, recipient=RECIPIENT, config=OtpConfig(max_attempts=3))
    guess = wrong_code(issued.code)

    results = run_at_once(lambda _: otp_check(account=account, recipient=RECIPIENT, code=guess))

    assert Counter(result.reason for result in results) == {"Invalid code": 3, "Maximum attempts reached": THREADS - 3}
    assert OtpCode.objects.get().attempts == 3
    assert otp_check(account=account, recipient=RECIPIENT, code=issued.code).reason == "Maximum attempts reached"


def test_concurrent_right_and_wrong_checks_count_every_attempt_and_validate_once(account):
    issued = otp_generate(account=account, recipient=RECIPIENT, config=OtpConfig(max_attempts=10))
    guess = wrong_code(issued.code)

    results = run_at_once(
        lambda index: otp_check(account=account, recipient=RECIPIENT, code=issued.code if index % 2 else guess)
    )

    reasons = Counter(result.reason for result in results)
    assert reasons["Valid"] == 1
    otp = OtpCode.objects.get()
    assert otp.status == OtpStatus.VERIFIED
    # Checks are serialised: the wrong guesses before the right one counted on the code, the
    # ones after it found no pending code.
    assert otp.attempts == sum(1 for result in results if result.otp.pk == otp.pk)


def test_concurrent_generations_leave_exactly_one_pending_code(account):
    results = run_at_once(lambda _: otp_generate(account=account, recipient=RECIPIENT, config=OtpConfig()))

    assert not [result for result in results if isinstance(result, Exception)], results
    assert OtpCode.objects.filter(status=OtpStatus.PENDING).count() == 1
    assert OtpCode.objects.filter(status=OtpStatus.REPLACED).count() == THREADS - 1
    pending = OtpCode.objects.get(status=OtpStatus.PENDING)
    winner = next(result for result in results if result.otp.pk == pending.pk)
    assert otp_check(account=account, recipient=RECIPIENT, code=winner.code).valid


def test_concurrent_generations_with_reject_if_pending_code_issue_one_code(account):
    config = OtpConfig(reject_if_pending_code=True)

    results = run_at_once(lambda _: otp_generate(account=account, recipient=RECIPIENT, config=config))

    refused = [result for result in results if isinstance(result, OtpError)]
    assert len(refused) == THREADS - 1
    assert {(error.code, error.description) for error in refused} == {
        (422, "The recipient already has a pending code.")
    }
    assert OtpCode.objects.count() == 1
