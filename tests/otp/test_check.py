import hmac

import pytest

from otp import services
from otp.models import OtpCode, OtpStatus
from otp.services import OtpConfig, otp_check, otp_generate
from otp.tasks import PURGE_SCHEDULE, ensure_schedules, purge_expired_codes
from tests.otp.conftest import (
    CHECK_URL,
    SPEC_CHECK_ERROR,
    SPEC_CHECK_EXPIRED_RESPONSE,
    SPEC_CHECK_REQUEST,
    SPEC_CHECK_VALID_RESPONSE,
    assert_error,
    assert_shape,
    check,
    generated_code,
    wrong_code,
)

RECIPIENT = "34666555444"


def reason(response) -> str:
    assert response.status_code == 200, response.content
    return response.json()["data"]["reason"]


def pending(account) -> OtpCode:
    return OtpCode.objects.get(account=account, status=OtpStatus.PENDING)


# ---------------------------------------------------------------------------------------------
# The spec's samples


def test_check_of_the_right_code_answers_the_spec_valid_sample(api_client, clock):
    code = generated_code(api_client, recipient=RECIPIENT)

    response = api_client.post(CHECK_URL, {**SPEC_CHECK_REQUEST, "code": code}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert_shape(body, SPEC_CHECK_VALID_RESPONSE)
    expected = SPEC_CHECK_VALID_RESPONSE["data"]
    assert body == {"data": {**expected, "otp": {"data": {**expected["otp"]["data"], "code": code}}}}


def test_check_after_max_seconds_validity_answers_the_spec_expired_sample(api_client, clock):
    code = generated_code(api_client, recipient=RECIPIENT)
    clock.advance(61)

    response = check(api_client, recipient=RECIPIENT, code=code)

    body = response.json()
    expected = SPEC_CHECK_EXPIRED_RESPONSE["data"]
    otp = {**expected["otp"]["data"], "code": code, "updatedAt": "2020-01-01T12:01:01+00:00"}
    assert body == {"data": {**expected, "otp": {"data": otp}}}


def test_check_without_recipient_answers_the_spec_error(api_client):
    code = generated_code(api_client, recipient=RECIPIENT)

    response = api_client.post(CHECK_URL, {"code": code}, format="json")

    assert response.json() == SPEC_CHECK_ERROR
    assert OtpCode.objects.get().attempts == 0


# ---------------------------------------------------------------------------------------------
# Reasons


def test_a_wrong_code_answers_invalid_code_and_counts_an_attempt(api_client, account, clock):
    code = generated_code(api_client, recipient=RECIPIENT)
    clock.advance(5)

    response = check(api_client, recipient=RECIPIENT, code=wrong_code(code))

    data = response.json()["data"]
    assert (data["valid"], data["reason"]) == (False, "Invalid code")
    assert data["otp"]["data"]["attempts"] == 1
    assert data["otp"]["data"]["code"] == wrong_code(code)  # echoes the attempt, never the real code
    assert data["otp"]["data"]["updatedAt"] == "2020-01-01T12:00:05+00:00"
    assert pending(account).attempts == 1


def test_the_right_code_on_the_last_attempt_is_valid(api_client, account):
    code = generated_code(api_client, recipient=RECIPIENT, maxAttempts=3)

    reasons = [reason(check(api_client, recipient=RECIPIENT, code=wrong_code(code))) for _ in range(2)]
    reasons.append(reason(check(api_client, recipient=RECIPIENT, code=code)))

    assert reasons == ["Invalid code", "Invalid code", "Valid"]
    assert OtpCode.objects.get().status == OtpStatus.VERIFIED


@pytest.mark.parametrize("max_attempts", [1, 3, 10])
def test_after_max_attempts_even_the_right_code_answers_maximum_attempts_reached(api_client, account, max_attempts):
    code = generated_code(api_client, recipient=RECIPIENT, maxAttempts=max_attempts)
    for _ in range(max_attempts):
        assert reason(check(api_client, recipient=RECIPIENT, code=wrong_code(code))) == "Invalid code"

    response = check(api_client, recipient=RECIPIENT, code=code)

    data = response.json()["data"]
    assert (data["valid"], data["reason"]) == (False, "Maximum attempts reached")
    assert data["otp"]["data"]["attempts"] == max_attempts  # not counted past the maximum
    assert pending(account).attempts == max_attempts


def test_a_used_code_cannot_be_used_again(api_client):
    code = generated_code(api_client, recipient=RECIPIENT)
    assert reason(check(api_client, recipient=RECIPIENT, code=code)) == "Valid"

    response = check(api_client, recipient=RECIPIENT, code=code)

    assert response.json()["data"]["valid"] is False
    assert reason(response) == "Invalid code"


# ---------------------------------------------------------------------------------------------
# Expiry (controlled clock)


@pytest.mark.parametrize("validity", [30, 60, 600])
def test_a_code_is_valid_until_max_seconds_validity_inclusive(api_client, clock, validity):
    code = generated_code(api_client, recipient=RECIPIENT, maxSecondsValidity=validity)
    clock.advance(validity)

    assert reason(check(api_client, recipient=RECIPIENT, code=code)) == "Valid"


@pytest.mark.parametrize("validity", [30, 60, 600])
def test_a_code_checked_one_second_after_max_seconds_validity_has_expired(api_client, account, clock, validity):
    code = generated_code(api_client, recipient=RECIPIENT, maxSecondsValidity=validity)
    clock.advance(validity + 1)

    response = check(api_client, recipient=RECIPIENT, code=code)

    assert (response.json()["data"]["valid"], reason(response)) == (False, "Expired")
    assert pending(account).attempts == 1


def test_an_expired_code_with_no_attempts_left_answers_maximum_attempts_reached(api_client, clock):
    code = generated_code(api_client, recipient=RECIPIENT, maxAttempts=1)
    check(api_client, recipient=RECIPIENT, code=wrong_code(code))
    clock.advance(3600)

    assert reason(check(api_client, recipient=RECIPIENT, code=code)) == "Maximum attempts reached"


def test_expiry_follows_the_service_clock(account, clock):
    issued = otp_generate(account=account, recipient=RECIPIENT, config=OtpConfig(max_seconds_validity=30))
    later = clock.now.replace(minute=5)

    result = otp_check(account=account, recipient=RECIPIENT, code=issued.code, now=later)

    assert (result.valid, result.reason) == (False, "Expired")


# ---------------------------------------------------------------------------------------------
# Case sensitivity, app ids, recipients


def alpha_code(api_client, **body) -> str:
    code = generated_code(api_client, recipient=RECIPIENT, alpha=True, length=10, **body)
    assert code != code.lower(), "ten upper-case alphanumerics without a letter: retry the test"
    return code


def test_checks_ignore_case_by_default(api_client):
    code = alpha_code(api_client)

    assert reason(check(api_client, recipient=RECIPIENT, code=code.lower())) == "Valid"


def test_case_sensitive_checks_refuse_a_code_in_the_wrong_case(api_client):
    code = alpha_code(api_client)

    assert reason(check(api_client, recipient=RECIPIENT, code=code.lower(), caseSensitive=True)) == "Invalid code"
    assert reason(check(api_client, recipient=RECIPIENT, code=code, caseSensitive=True)) == "Valid"


def test_case_sensitive_false_accepts_the_exact_code(api_client):
    code = alpha_code(api_client)

    assert reason(check(api_client, recipient=RECIPIENT, code=code, caseSensitive=False)) == "Valid"


def test_a_code_is_checked_against_its_own_app_id(api_client, account):
    code = generated_code(api_client, recipient=RECIPIENT, appId="login")

    assert reason(check(api_client, recipient=RECIPIENT, code=code)) == "Invalid code"
    assert reason(check(api_client, recipient=RECIPIENT, code=code, appId="other")) == "Invalid code"
    assert pending(account).attempts == 0
    assert reason(check(api_client, recipient=RECIPIENT, code=code, appId="login")) == "Valid"


def test_check_normalises_the_recipient_like_generate(api_client):
    phone_code = generated_code(api_client, recipient="+34 666 555 444")
    email_code = generated_code(api_client, recipient="User@Example.com")

    assert reason(check(api_client, recipient="0034666555444", code=phone_code)) == "Valid"
    assert reason(check(api_client, recipient="user@EXAMPLE.com", code=email_code)) == "Valid"


def test_a_numeric_code_sent_as_a_json_number_is_checked(api_client, fixed_codes):
    fixed_codes.append("4321")
    generated_code(api_client, recipient=RECIPIENT)

    assert reason(check(api_client, recipient=RECIPIENT, code=4321)) == "Valid"


def test_check_compares_hashes_in_constant_time(api_client, monkeypatch):
    calls = []
    compare_digest = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare_digest(a, b)

    code = generated_code(api_client, recipient=RECIPIENT)
    stored = OtpCode.objects.get().code_hash
    monkeypatch.setattr(services.hmac, "compare_digest", spy)

    assert reason(check(api_client, recipient=RECIPIENT, code=code)) == "Valid"

    assert [call for call in calls if stored in call] == [(stored, stored)]


def test_rotating_the_hmac_key_invalidates_pending_codes(api_client, settings):
    code = generated_code(api_client, recipient=RECIPIENT)
    settings.OTP_HMAC_KEY = "rotated"

    assert reason(check(api_client, recipient=RECIPIENT, code=code)) == "Invalid code"


# ---------------------------------------------------------------------------------------------
# Unknown recipients reveal nothing


def sequence(api_client, recipient: str, code: str, times: int) -> list[tuple]:
    answers = []
    for _ in range(times):
        data = check(api_client, recipient=recipient, code=code).json()["data"]
        otp = data["otp"]["data"]
        answers.append(
            (
                data["valid"],
                data["reason"],
                otp["attempts"],
                otp["maxAttempts"],
                otp["maxSecondsValidity"],
                otp["appId"],
            )
        )
    return answers


def test_checks_without_a_code_answer_exactly_like_wrong_guesses_on_a_real_code(api_client, clock):
    code = generated_code(api_client, recipient=RECIPIENT)

    real = sequence(api_client, RECIPIENT, wrong_code(code), 5)
    unknown = sequence(api_client, "34666555333", "0000", 5)

    assert real == unknown
    assert [answer[1] for answer in unknown] == ["Invalid code"] * 3 + ["Maximum attempts reached"] * 2
    assert OtpCode.objects.count() == 1


def test_a_check_without_a_code_has_the_response_shape_of_a_wrong_code(api_client, clock):
    code = generated_code(api_client, recipient=RECIPIENT)
    real = check(api_client, recipient=RECIPIENT, code=wrong_code(code)).json()

    unknown = check(api_client, recipient="user@example.com", code="1234", appId="app").json()

    assert_shape(unknown, real)
    otp = unknown["data"]["otp"]["data"]
    assert otp == {
        "recipient": "user@example.com",
        "code": "1234",
        "attempts": 1,
        "maxAttempts": 3,
        "maxSecondsValidity": 60,
        "appId": "app",
        "createdAt": "2020-01-01T12:00:00+00:00",
        "updatedAt": "2020-01-01T12:00:00+00:00",
        "expiresAt": "2020-01-01T12:01:00+00:00",
    }


def test_a_check_without_a_code_expires_like_a_default_code(api_client, clock):
    check(api_client, recipient="34666555333", code="1234")
    clock.advance(61)

    assert reason(check(api_client, recipient="34666555333", code="1234")) == "Expired"


def test_a_check_without_a_code_is_never_valid_and_creates_no_code(api_client):
    for code in ("0000", "1234", "9999"):
        assert check(api_client, recipient=RECIPIENT, code=code).json()["data"]["valid"] is False
    assert not OtpCode.objects.exists()


# ---------------------------------------------------------------------------------------------
# Accounts are isolated


def test_another_account_cannot_check_a_code(api_client, other_client, account):
    code = generated_code(api_client, recipient=RECIPIENT)

    response = check(other_client, recipient=RECIPIENT, code=code)

    assert (response.json()["data"]["valid"], reason(response)) == (False, "Invalid code")
    assert response.json()["data"]["otp"]["data"]["attempts"] == 1  # the decoy's, not the real code's
    assert pending(account).attempts == 0
    assert reason(check(api_client, recipient=RECIPIENT, code=code)) == "Valid"


def test_another_accounts_checks_do_not_use_up_attempts(api_client, other_client, account):
    code = generated_code(api_client, recipient=RECIPIENT, maxAttempts=1)
    for _ in range(5):
        check(other_client, recipient=RECIPIENT, code=wrong_code(code))

    assert reason(check(api_client, recipient=RECIPIENT, code=code)) == "Valid"


# ---------------------------------------------------------------------------------------------
# Bad input changes nothing


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"code": "1234"}, "The recipient field is required."),
        ({"recipient": "", "code": "1234"}, "The recipient field is required."),
        ({"recipient": "nobody", "code": "1234"}, "The recipient field must be a valid phone or email."),
        ({"recipient": ["34666555444"], "code": "1234"}, "The recipient must be a string."),
        ({"recipient": RECIPIENT}, "The code field is required."),
        ({"recipient": RECIPIENT, "code": ""}, "The code field is required."),
        ({"recipient": RECIPIENT, "code": None}, "The code field is required."),
        ({"recipient": RECIPIENT, "code": ["1234"]}, "The code must be a string."),
        ({"recipient": RECIPIENT, "code": True}, "The code must be a string."),
        ({"recipient": RECIPIENT, "code": "1234", "appId": "\x00"}, "The appId may not contain a NUL character."),
        ({"recipient": RECIPIENT, "code": 12.5}, "The code must be a string."),
        ({"recipient": RECIPIENT, "code": "1" * 256}, "The code may not be greater than 255 characters."),
        ({"recipient": RECIPIENT, "code": "1234", "appId": 7}, "The appId must be a string."),
        (
            {"recipient": RECIPIENT, "code": "1234", "caseSensitive": "maybe"},
            "The caseSensitive field must be true or false.",
        ),
    ],
)
def test_check_with_bad_input_is_rejected_and_counts_no_attempt(api_client, account, body, description):
    generated_code(api_client, recipient=RECIPIENT)

    assert_error(api_client.post(CHECK_URL, body, format="json"), 422, description)
    assert pending(account).attempts == 0


def test_check_with_malformed_json_answers_125(api_client):
    assert_error(api_client.post(CHECK_URL, "[1,", content_type="application/json"), 400, "Invalid JSON", code=125)


def test_check_without_credentials_answers_103(client, db):
    response = client.post(CHECK_URL, SPEC_CHECK_REQUEST, content_type="application/json")

    assert_error(response, 401, "Username or password unknown", code=103)


# ---------------------------------------------------------------------------------------------
# Housekeeping


def test_purge_deletes_codes_long_expired_and_keeps_the_rest(account, clock, settings):
    settings.OTP_RETENTION_SECONDS = 3600
    old = otp_generate(account=account, recipient="34666555111", config=OtpConfig()).otp
    clock.advance(3600 + 61)
    recent = otp_generate(account=account, recipient="34666555222", config=OtpConfig()).otp

    assert purge_expired_codes() == 1
    assert purge_expired_codes() == 0
    assert list(OtpCode.objects.values_list("id", flat=True)) == [recent.id]
    assert not OtpCode.objects.filter(id=old.id).exists()


def test_the_purge_schedule_is_created_once(db):
    from django_q.models import Schedule

    ensure_schedules()
    ensure_schedules()

    schedule = Schedule.objects.get(name=PURGE_SCHEDULE)
    assert schedule.func == "otp.tasks.purge_expired_codes"
