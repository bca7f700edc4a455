import re

import pytest
from django.urls import include, path

from otp.models import OtpCode, OtpSource, OtpStatus
from otp.services import (
    OtpConfig,
    OtpError,
    OtpPendingCode,
    code_hash,
    otp_config_clean,
    otp_generate,
    otp_issue_for_send,
)
from tests.otp.conftest import (
    GENERATE_URL,
    SPEC_GENERATE_ERROR,
    SPEC_GENERATE_REQUEST,
    SPEC_GENERATE_RESPONSE,
    assert_error,
    assert_shape,
    check,
    generate,
    generated_code,
    wrong_code,
)

# ---------------------------------------------------------------------------------------------
# The spec's sample


def test_generate_answers_the_spec_sample_with_a_fresh_four_digit_code(api_client, clock):
    response = api_client.post(GENERATE_URL, SPEC_GENERATE_REQUEST, format="json")

    assert response.status_code == 200
    body = response.json()
    assert_shape(body, SPEC_GENERATE_RESPONSE)
    assert re.fullmatch(r"\d{4}", body["data"]["code"])
    assert body == {"data": {**SPEC_GENERATE_RESPONSE["data"], "code": body["data"]["code"]}}


def test_generate_with_an_invalid_recipient_answers_the_spec_error_and_stores_nothing(api_client):
    response = generate(api_client, recipient="not a phone")

    assert response.status_code == 422
    assert response.json() == SPEC_GENERATE_ERROR
    assert not OtpCode.objects.exists()


def test_generate_stores_only_a_keyed_hash_of_the_code(api_client, account):
    code = generated_code(api_client, recipient="34666555444")

    otp = OtpCode.objects.get()
    stored = [str(value) for value in OtpCode.objects.values_list().get()]
    assert code not in stored
    assert otp.code_hash == code_hash(account_id=account.pk, recipient="34666555444", app_id="", code=code)
    assert (otp.status, otp.source, otp.length, otp.alpha) == (OtpStatus.PENDING, OtpSource.API, 4, False)


def test_the_code_hash_depends_on_the_configured_key(settings, account):
    before = code_hash(account_id=account.pk, recipient="34666555444", app_id="", code="1234")
    settings.OTP_HMAC_KEY = "another-key"

    assert code_hash(account_id=account.pk, recipient="34666555444", app_id="", code="1234") != before


def test_generate_returns_expiry_after_max_seconds_validity(api_client, clock):
    response = generate(api_client, recipient="34666555444", maxSecondsValidity=600, maxAttempts=10, appId="login")

    data = response.json()["data"]
    assert (data["maxSecondsValidity"], data["maxAttempts"], data["appId"]) == (600, 10, "login")
    assert (data["createdAt"], data["updatedAt"], data["expiresAt"]) == (
        "2020-01-01T12:00:00+00:00",
        "2020-01-01T12:00:00+00:00",
        "2020-01-01T12:10:00+00:00",
    )


# ---------------------------------------------------------------------------------------------
# Recipients


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("34666555444", "34666555444"),
        ("+34 666 555 444", "34666555444"),
        ("0034666555444", "34666555444"),
        (34666555444, "34666555444"),
        ("User@Example.COM", "user@example.com"),
    ],
)
def test_generate_normalises_the_recipient(api_client, raw, stored):
    response = generate(api_client, recipient=raw)

    assert response.status_code == 200, response.content
    assert response.json()["data"]["recipient"] == stored
    assert OtpCode.objects.get().recipient == stored


@pytest.mark.parametrize("raw", ["12", "666", "hello", "user@", "@example.com", "34666555444@", "+999 123"])
def test_generate_with_a_recipient_that_is_neither_phone_nor_email_is_rejected(api_client, raw):
    assert_error(generate(api_client, recipient=raw), 422, "The recipient field must be a valid phone or email.")
    assert not OtpCode.objects.exists()


@pytest.mark.parametrize("body", [{}, {"recipient": None}, {"recipient": ""}, {"recipient": "   "}])
def test_generate_without_recipient_is_rejected(api_client, body):
    assert_error(api_client.post(GENERATE_URL, body, format="json"), 422, "The recipient field is required.")
    assert not OtpCode.objects.exists()


@pytest.mark.parametrize("raw", [["34666555444"], {"phone": "34666555444"}, True, 3.5])
def test_generate_with_a_recipient_of_the_wrong_type_is_rejected(api_client, raw):
    assert_error(generate(api_client, recipient=raw), 422, "The recipient must be a string.")


def test_generate_reports_the_recipient_before_the_other_parameters(api_client):
    assert_error(
        generate(api_client, recipient="x", length=99), 422, "The recipient field must be a valid phone or email."
    )


def test_generate_with_malformed_json_answers_125(api_client):
    response = api_client.post(GENERATE_URL, "{not json", content_type="application/json")

    assert_error(response, 400, "Invalid JSON", code=125)


def test_generate_without_credentials_answers_103(client, db):
    response = client.post(GENERATE_URL, SPEC_GENERATE_REQUEST, content_type="application/json")

    assert_error(response, 401, "Username or password unknown", code=103)


def test_generate_answers_405_to_get(api_client):
    assert api_client.get(GENERATE_URL).status_code == 405


# ---------------------------------------------------------------------------------------------
# Parameter ranges and types


@pytest.mark.parametrize(("length", "pattern"), [(3, r"\d{3}"), (10, r"\d{10}"), ("5", r"\d{5}")])
def test_generate_accepts_lengths_from_3_to_10(api_client, length, pattern):
    response = generate(api_client, recipient="34666555444", length=length)

    assert response.status_code == 200, response.content
    assert re.fullmatch(pattern, response.json()["data"]["code"])


@pytest.mark.parametrize(
    ("field", "value", "description"),
    [
        ("length", 2, "The length must be between 3 and 10."),
        ("length", 11, "The length must be between 3 and 10."),
        ("length", 0, "The length must be between 3 and 10."),
        ("length", -4, "The length must be between 3 and 10."),
        ("maxAttempts", 0, "The maxAttempts must be between 1 and 10."),
        ("maxAttempts", 11, "The maxAttempts must be between 1 and 10."),
        ("maxSecondsValidity", 29, "The maxSecondsValidity must be between 30 and 600."),
        ("maxSecondsValidity", 601, "The maxSecondsValidity must be between 30 and 600."),
        ("length", "four", "The length must be an integer."),
        ("length", 4.5, "The length must be an integer."),
        ("length", True, "The length must be an integer."),
        ("maxAttempts", [3], "The maxAttempts must be an integer."),
        ("maxSecondsValidity", "60s", "The maxSecondsValidity must be an integer."),
        ("alpha", "yes", "The alpha field must be true or false."),
        ("alpha", 2, "The alpha field must be true or false."),
        ("rejectIfPendingCode", "no", "The rejectIfPendingCode field must be true or false."),
        ("appId", 5, "The appId must be a string."),
        ("appId", ["login"], "The appId must be a string."),
        ("appId", "x" * 256, "The appId may not be greater than 255 characters."),
        ("appId", "login\x00", "The appId may not contain a NUL character."),
    ],
)
def test_generate_with_a_parameter_out_of_range_or_of_the_wrong_type_is_rejected_and_changes_nothing(
    api_client, field, value, description
):
    assert_error(generate(api_client, recipient="34666555444", **{field: value}), 422, description)
    assert not OtpCode.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "column"),
    [
        ("maxAttempts", 1, "max_attempts"),
        ("maxAttempts", 10, "max_attempts"),
        ("maxSecondsValidity", 30, "max_seconds_validity"),
        ("maxSecondsValidity", 600, "max_seconds_validity"),
        ("appId", "x" * 255, "app_id"),
    ],
)
def test_generate_accepts_the_boundaries_of_each_range(api_client, field, value, column):
    response = generate(api_client, recipient="34666555444", **{field: value})

    assert response.status_code == 200, response.content
    assert response.json()["data"][field] == value
    assert getattr(OtpCode.objects.get(), column) == value


def test_generate_null_parameters_take_the_defaults(api_client):
    response = generate(
        api_client,
        recipient="34666555444",
        alpha=None,
        length=None,
        maxAttempts=None,
        maxSecondsValidity=None,
        appId=None,
        rejectIfPendingCode=None,
    )

    data = response.json()["data"]
    assert re.fullmatch(r"\d{4}", data["code"])
    assert (data["maxAttempts"], data["maxSecondsValidity"], data["appId"]) == (3, 60, "")


def test_alpha_codes_are_upper_case_letters_and_digits(account):
    codes = [
        otp_generate(account=account, recipient=f"3466655{n:04d}", config=OtpConfig(alpha=True, length=10)).code
        for n in range(30)
    ]

    assert all(re.fullmatch(r"[A-Z0-9]{10}", code) for code in codes)
    assert any(re.search(r"[A-Z]", code) for code in codes)
    assert OtpCode.objects.filter(alpha=True, length=10).count() == 30


def test_numeric_codes_are_digits_only(account):
    codes = [
        otp_generate(account=account, recipient=f"3466655{n:04d}", config=OtpConfig(length=10)).code for n in range(30)
    ]

    assert all(re.fullmatch(r"\d{10}", code) for code in codes)
    assert len(set(codes)) == 30  # 10**10 possibilities: a repeat would mean a broken generator


# ---------------------------------------------------------------------------------------------
# One pending code per recipient and appId


def test_a_new_code_replaces_the_pending_one(api_client, account, fixed_codes):
    fixed_codes.extend(["1111", "2222"])
    generated_code(api_client, recipient="34666555444")
    generated_code(api_client, recipient="34666555444")

    statuses = list(OtpCode.objects.order_by("id").values_list("status", flat=True))
    assert statuses == [OtpStatus.REPLACED, OtpStatus.PENDING]
    assert check(api_client, recipient="34666555444", code="1111").json()["data"]["reason"] == "Invalid code"
    assert check(api_client, recipient="34666555444", code="2222").json()["data"]["reason"] == "Valid"


def test_each_app_id_has_its_own_pending_code(api_client):
    login = generated_code(api_client, recipient="34666555444", appId="login")
    payment = generated_code(api_client, recipient="34666555444", appId="payment")

    assert OtpCode.objects.filter(status=OtpStatus.PENDING).count() == 2
    assert check(api_client, recipient="34666555444", appId="payment", code=payment).json()["data"]["valid"]
    assert check(api_client, recipient="34666555444", appId="login", code=login).json()["data"]["valid"]


def test_reject_if_pending_code_refuses_while_a_code_is_pending_and_keeps_it(api_client, clock):
    code = generated_code(api_client, recipient="34666555444")
    clock.advance(30)

    response = generate(api_client, recipient="34666555444", rejectIfPendingCode=True)

    assert_error(response, 422, "The recipient already has a pending code.")
    assert OtpCode.objects.count() == 1
    assert check(api_client, recipient="34666555444", code=code).json()["data"]["reason"] == "Valid"


def test_reject_if_pending_code_generates_once_the_pending_code_expired(api_client, clock):
    generated_code(api_client, recipient="34666555444")
    clock.advance(61)

    response = generate(api_client, recipient="34666555444", rejectIfPendingCode=True)

    assert response.status_code == 200
    assert list(OtpCode.objects.order_by("id").values_list("status", flat=True)) == ["replaced", "pending"]


def test_reject_if_pending_code_generates_once_the_pending_code_used_its_attempts(api_client):
    code = generated_code(api_client, recipient="34666555444", maxAttempts=1)
    check(api_client, recipient="34666555444", code=wrong_code(code))

    assert generate(api_client, recipient="34666555444", rejectIfPendingCode=True).status_code == 200


def test_reject_if_pending_code_generates_once_the_code_was_used(api_client):
    code = generated_code(api_client, recipient="34666555444")
    check(api_client, recipient="34666555444", code=code)

    assert generate(api_client, recipient="34666555444", rejectIfPendingCode=True).status_code == 200


def test_reject_if_pending_code_only_looks_at_the_same_app_id(api_client):
    generated_code(api_client, recipient="34666555444", appId="login")

    assert generate(api_client, recipient="34666555444", appId="other", rejectIfPendingCode=True).status_code == 200


def test_accounts_have_separate_pending_codes_for_the_same_recipient(api_client, other_client, account):
    generated_code(api_client, recipient="34666555444")

    response = generate(other_client, recipient="34666555444", rejectIfPendingCode=True)

    assert response.status_code == 200
    assert OtpCode.objects.filter(status=OtpStatus.PENDING).count() == 2
    assert OtpCode.objects.filter(account=account, status=OtpStatus.PENDING).count() == 1


# ---------------------------------------------------------------------------------------------
# Sends with {OTP_CODE} and otpConfig (the sending engine's entry points)


def test_otp_config_clean_reads_the_spec_parameters_and_defaults():
    assert otp_config_clean(None) == OtpConfig()
    assert otp_config_clean({"alpha": True, "length": 5}) == OtpConfig(alpha=True, length=5)
    assert otp_config_clean(
        {"maxAttempts": 10, "maxSecondsValidity": 600, "appId": "shop", "rejectIfPendingCode": "true"}
    ) == OtpConfig(max_attempts=10, max_seconds_validity=600, app_id="shop", reject_if_pending_code=True)


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        ({"length": 11}, "The otpConfig.length must be between 3 and 10."),
        ({"maxAttempts": 0}, "The otpConfig.maxAttempts must be between 1 and 10."),
        ({"maxSecondsValidity": 29}, "The otpConfig.maxSecondsValidity must be between 30 and 600."),
        ({"alpha": "yes"}, "The otpConfig.alpha field must be true or false."),
        ("length=5", "The otpConfig must be an object."),
    ],
)
def test_otp_config_clean_names_the_otp_config_field_in_its_errors(raw, description):
    with pytest.raises(OtpError) as raised:
        otp_config_clean(raw, prefix="otpConfig.")

    assert (raised.value.code, raised.value.description) == (422, description)


def test_otp_issue_for_send_returns_a_checkable_code_recorded_as_sent(api_client, account):
    code = otp_issue_for_send(
        account=account, recipient="34666555444", config=OtpConfig(alpha=True, length=6, app_id="shop")
    )

    assert re.fullmatch(r"[A-Z0-9]{6}", code)
    assert OtpCode.objects.get().source == OtpSource.SENDING
    response = check(api_client, recipient="34666555444", appId="shop", code=code.lower())
    assert response.json()["data"]["reason"] == "Valid"


def test_otp_issue_for_send_honours_reject_if_pending_code(account):
    otp_issue_for_send(account=account, recipient="user@example.com", config=OtpConfig())

    with pytest.raises(OtpPendingCode):
        otp_issue_for_send(account=account, recipient="user@example.com", config=OtpConfig(reject_if_pending_code=True))
    assert OtpCode.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# OpenAPI schema


def test_openapi_schema_documents_the_otp_endpoints(client, db):
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/rest/otp/generate"]) == {"post"}
    assert set(paths["/api/rest/otp/check"]) == {"post"}


def test_otp_endpoints_generate_their_schema_without_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator(patterns=[path("api/rest/", include("otp.api"))]).get_schema(public=True)

    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._warn_cache)
    assert {"/api/rest/otp/generate", "/api/rest/otp/check"} <= set(schema["paths"])
