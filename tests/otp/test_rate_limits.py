import pytest

from otp.models import OtpCode
from otp.services import OtpConfig, OtpRateLimited, otp_issue_for_send
from tests.otp.conftest import check, generate, generated_code


@pytest.fixture
def limits(settings):
    settings.OTP_MAX_CODES_PER_RECIPIENT = 3
    settings.OTP_RECIPIENT_WINDOW_SECONDS = 600
    settings.OTP_MAX_CODES_PER_ACCOUNT = 5
    settings.OTP_ACCOUNT_WINDOW_SECONDS = 60
    return settings


def assert_too_many(response, *, retry_after: int, description: str):
    assert response.status_code == 429, response.content
    assert response.json() == {"error": {"code": 429, "description": description}}
    assert response["Retry-After"] == str(retry_after)


RECIPIENT_LIMIT = "Too many requests: a recipient may receive 3 codes every 600 seconds. Try again in {} seconds."
ACCOUNT_LIMIT = "Too many requests: the account may generate 5 codes every 60 seconds. Try again in {} seconds."


# ---------------------------------------------------------------------------------------------
# Per recipient


def test_codes_beyond_the_recipient_limit_answer_429_and_change_nothing(api_client, limits, clock):
    codes = [generated_code(api_client, recipient="34666555444") for _ in range(3)]
    clock.advance(30)

    response = generate(api_client, recipient="+34 666 555 444")

    assert_too_many(response, retry_after=570, description=RECIPIENT_LIMIT.format(570))
    assert OtpCode.objects.count() == 3
    assert check(api_client, recipient="34666555444", code=codes[-1]).json()["data"]["reason"] == "Valid"


def test_the_recipient_limit_leaves_other_recipients_alone(api_client, limits, clock):
    for _ in range(3):
        generated_code(api_client, recipient="34666555444")

    assert generate(api_client, recipient="34666555333").status_code == 200


def test_the_recipient_limit_counts_every_app_id(api_client, limits, clock):
    for app_id in ("a", "b", "c"):
        generated_code(api_client, recipient="user@example.com", appId=app_id)

    assert generate(api_client, recipient="User@example.com", appId="d").status_code == 429


def test_the_recipient_limit_resets_in_the_next_window(api_client, limits, clock):
    for _ in range(3):
        generated_code(api_client, recipient="34666555444")
    clock.advance(600)

    assert generate(api_client, recipient="34666555444").status_code == 200


def test_the_recipient_limit_is_counted_per_account(api_client, other_client, limits, clock):
    for _ in range(3):
        generated_code(api_client, recipient="34666555444")

    assert generate(other_client, recipient="34666555444").status_code == 200


# ---------------------------------------------------------------------------------------------
# Per account


def test_codes_beyond_the_account_limit_answer_429(api_client, limits, clock):
    clock.advance(15)
    for n in range(5):
        generated_code(api_client, recipient=f"3466655500{n}")

    response = generate(api_client, recipient="34666555099")

    assert_too_many(response, retry_after=45, description=ACCOUNT_LIMIT.format(45))
    assert OtpCode.objects.count() == 5


def test_the_account_limit_resets_in_the_next_window(api_client, limits, clock):
    for n in range(5):
        generated_code(api_client, recipient=f"3466655500{n}")
    clock.advance(60)

    assert generate(api_client, recipient="34666555099").status_code == 200


def test_the_account_limit_leaves_other_accounts_alone(api_client, other_client, limits, clock):
    for n in range(5):
        generated_code(api_client, recipient=f"3466655500{n}")

    assert generate(api_client, recipient="34666555099").status_code == 429
    assert generate(other_client, recipient="34666555099").status_code == 200


# ---------------------------------------------------------------------------------------------
# What counts


def test_rejected_requests_do_not_count(api_client, limits, clock):
    for _ in range(10):
        assert generate(api_client, recipient="34666555444", length=99).status_code == 422
        assert generate(api_client, recipient="nobody").status_code == 422

    assert generate(api_client, recipient="34666555444").status_code == 200


def test_checks_do_not_count(api_client, limits, clock):
    code = generated_code(api_client, recipient="34666555444")
    for _ in range(10):
        check(api_client, recipient="34666555444", code=code)

    assert generate(api_client, recipient="34666555444").status_code == 200


def test_codes_issued_by_sends_share_the_limits(api_client, account, limits, clock):
    for _ in range(2):
        otp_issue_for_send(account=account, recipient="34666555444", config=OtpConfig())
    generated_code(api_client, recipient="34666555444")

    with pytest.raises(OtpRateLimited) as raised:
        otp_issue_for_send(account=account, recipient="34666555444", config=OtpConfig())

    assert (raised.value.code, raised.value.retry_after) == (429, 600)
    assert OtpCode.objects.count() == 3


def test_limits_come_from_settings(api_client, settings, clock):
    settings.OTP_MAX_CODES_PER_RECIPIENT = 1

    assert generate(api_client, recipient="34666555444").status_code == 200
    assert generate(api_client, recipient="34666555444").status_code == 429
