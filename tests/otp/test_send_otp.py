"""{OTP_CODE} in POST /sms and /mailing with otpConfig: one code per recipient, generated at accept
time, delivered to the provider, checkable with /otp/check, never readable in what is stored."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from campaigns.models import Channel
from campaigns.services import SendError, sms_group_send
from messaging.dispatch import dispatch_due
from messaging.models import Message, MessageStatus
from otp.models import OtpCode, OtpSource, OtpStatus
from otp.services import OTP_OPTION
from tests.fakes.http_gateway import FakeGateway
from tests.messaging.pipeline_factories import route
from tests.otp.conftest import check

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway(db):
    """SMS and email of every account go to a local fake provider that records what it gets."""
    with FakeGateway() as fake:
        route(Channel.SMS, "http_gateway", fake.provider_settings())
        route(Channel.MAILING, "http_gateway", fake.provider_settings())
        yield fake


@pytest.fixture
def mail_account(account: Account) -> Account:
    from accounts.services import verified_sender_add

    verified_sender_add(account=account, email="info@sample.com")
    return account


def send_sms(client, **body):
    return client.post("/api/rest/sms", {"to": ["34666555444"], "from": "ACME", **body}, format="json")


def send_mailing(client, **body):
    payload = {
        "to": ["ana@example.com"],
        "fromEmail": "info@sample.com",
        "replyTo": "info@sample.com",
        "subject": "Your code",
        "trackOpens": False,
        "trackClicks": False,
        **body,
    }
    return client.post("/api/rest/mailing", payload, format="json")


def received_body(gateway: FakeGateway, reference: str) -> dict:
    [item] = [item for item in gateway.received if item["reference"] == reference]
    return item


def error(response) -> tuple[int, int, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["description"]


# ---------------------------------------------------------------------------------------------
# End to end


def test_an_sms_code_reaches_the_provider_and_checks_valid_while_the_stored_body_stays_masked(api_client, gateway):
    response = send_sms(
        api_client, message="Your ACME code is {OTP_CODE}", otpConfig={"alpha": True, "length": 6, "appId": "shop"}
    )
    assert response.status_code == 202, response.content
    public_id = response.json()["result"][0]["id"]

    dispatch_due(budget_seconds=10)

    sent = received_body(gateway, public_id)
    code = re.fullmatch(r"Your ACME code is ([A-Z0-9]{6})", sent["body"]).group(1)
    assert OTP_OPTION not in sent["options"]
    message = Message.objects.get(public_id=public_id)
    assert message.status == MessageStatus.SENT
    assert message.body == "Your ACME code is ******"
    assert OTP_OPTION not in message.options  # the sealed code is dropped once sent
    result = check(api_client, recipient="+34 666 555 444", code=code, appId="shop").json()["data"]
    assert (result["valid"], result["reason"]) == (True, "Valid")
    assert OtpCode.objects.get().source == OtpSource.SENDING


def test_an_email_code_reaches_the_provider_in_the_html_and_the_text_part_and_checks_valid(
    api_client, gateway, mail_account
):
    response = send_mailing(api_client, body="<p>Hello, your code: <b>{OTP_CODE}</b></p>")
    assert response.status_code == 202, response.content
    public_id = response.json()["result"][0]["id"]

    dispatch_due(budget_seconds=10)

    sent = received_body(gateway, public_id)
    code = re.search(r"<b>(\d{4})</b>", sent["body"]).group(1)
    assert code in sent["options"]["text_body"]
    message = Message.objects.get(public_id=public_id)
    assert code not in message.body and "<b>****</b>" in message.body
    assert "****" in message.options["text_body"] and code not in message.options["text_body"]
    result = check(api_client, recipient="ana@example.com", code=code).json()["data"]
    assert result["reason"] == "Valid"


def test_before_dispatch_the_code_is_stored_only_encrypted_and_get_sms_shows_it_masked(api_client, fixed_codes):
    fixed_codes.append("482913")
    response = send_sms(api_client, message="Code {OTP_CODE}", otpConfig={"length": 6})
    public_id = response.json()["result"][0]["id"]

    message = Message.objects.get(public_id=public_id)
    shown = api_client.get(f"/api/rest/sms/{public_id}").json()["data"][0]["message"]

    assert message.body == shown == "Code ******"
    assert "482913" not in str(message.options)
    assert set(message.options[OTP_OPTION]) == {"sealed", "length", "body"}


def test_each_recipient_gets_its_own_code_which_checks_only_for_that_recipient(api_client, gateway, fixed_codes):
    fixed_codes.extend(["1111", "2222"])
    response = send_sms(api_client, to=["34666555444", "34666555333"], message="Code {OTP_CODE}")
    ids = [result["id"] for result in response.json()["result"]]

    dispatch_due(budget_seconds=10)

    assert [received_body(gateway, public_id)["body"] for public_id in ids] == ["Code 1111", "Code 2222"]
    assert check(api_client, recipient="34666555444", code="2222").json()["data"]["reason"] == "Invalid code"
    assert check(api_client, recipient="34666555333", code="2222").json()["data"]["reason"] == "Valid"


def test_every_occurrence_is_filled_and_translation_keeps_the_code_in_place(api_client, gateway, fixed_codes):
    fixed_codes.append("7391")
    # trans=1 drops "º" before the code, which moves it: the mask is placed after translating.
    response = send_sms(api_client, message="Nº {OTP_CODE}, again: {OTP_CODE}", trans=1)
    public_id = response.json()["result"][0]["id"]

    dispatch_due(budget_seconds=10)

    assert received_body(gateway, public_id)["body"] == "N 7391, again: 7391"
    assert Message.objects.get(public_id=public_id).body == "N ****, again: ****"


def test_with_the_simulator_the_sealed_code_is_dropped_once_sent(api_client):
    response = send_sms(api_client, message="Code {OTP_CODE}")
    public_id = response.json()["result"][0]["id"]
    assert OTP_OPTION in Message.objects.get(public_id=public_id).options

    dispatch_due(budget_seconds=10)

    message = Message.objects.get(public_id=public_id)
    assert message.status == MessageStatus.SENT and OTP_OPTION not in message.options
    assert message.body == "Code ****"


def test_a_message_the_provider_rejects_drops_its_sealed_code_too(api_client, gateway):
    response = send_sms(api_client, message="Code {OTP_CODE}")
    public_id = response.json()["result"][0]["id"]
    gateway.reject(public_id, status=400)

    dispatch_due(budget_seconds=10)

    message = Message.objects.get(public_id=public_id)
    assert message.status == MessageStatus.REJECTED and OTP_OPTION not in message.options


# ---------------------------------------------------------------------------------------------
# otpConfig and refusals


def test_without_otp_config_the_spec_defaults_apply(api_client):
    response = send_sms(api_client, message="Code {OTP_CODE}")

    assert response.status_code == 202
    otp = OtpCode.objects.get()
    assert (otp.alpha, otp.length, otp.max_attempts, otp.max_seconds_validity, otp.app_id) == (False, 4, 3, 60, "")
    assert otp.recipient == "34666555444"


def test_otp_config_parameters_are_applied_to_the_code(api_client):
    config = {"alpha": True, "length": 10, "maxAttempts": 10, "maxSecondsValidity": 600, "appId": "login"}

    send_sms(api_client, message="Code {OTP_CODE}", otpConfig=config)

    otp = OtpCode.objects.get()
    assert (otp.alpha, otp.length, otp.max_attempts, otp.max_seconds_validity, otp.app_id) == (
        True,
        10,
        10,
        600,
        "login",
    )


@pytest.mark.parametrize(
    ("config", "description"),
    [
        ({"length": 2}, "The otpConfig.length must be between 3 and 10."),
        ({"length": 11}, "The otpConfig.length must be between 3 and 10."),
        ({"maxAttempts": 11}, "The otpConfig.maxAttempts must be between 1 and 10."),
        ({"maxSecondsValidity": 601}, "The otpConfig.maxSecondsValidity must be between 30 and 600."),
        ({"alpha": "maybe"}, "The otpConfig.alpha field must be true or false."),
        ({"appId": 7}, "The otpConfig.appId must be a string."),
        ("length=5", "The otpConfig must be an object."),
    ],
)
def test_out_of_range_otp_config_is_422_and_writes_nothing(api_client, account, config, description):
    response = send_sms(api_client, message="Code {OTP_CODE}", otpConfig=config)

    assert error(response) == (422, 422, description)
    assert not Message.objects.exists() and not OtpCode.objects.exists()


def test_otp_config_without_the_placeholder_is_ignored(api_client):
    response = send_sms(api_client, message="No code here", otpConfig={"length": 99})

    assert response.status_code == 202
    assert not OtpCode.objects.exists()


def test_a_scheduled_message_cannot_carry_a_code(api_client):
    later = (timezone.now() + timedelta(hours=1)).strftime("%Y%m%d%H%M%S")

    response = send_sms(api_client, message="Code {OTP_CODE}", scheduleDate=later)

    status, code, description = error(response)
    assert (status, code) == (422, 422) and "{OTP_CODE}" in description
    assert not Message.objects.exists() and not OtpCode.objects.exists()


def test_the_email_subject_cannot_carry_a_code(api_client, mail_account):
    response = send_mailing(api_client, subject="Code {OTP_CODE}", body="<p>{OTP_CODE}</p>")

    status, code, description = error(response)
    assert (status, code) == (422, 422) and "subject" in description


def test_a_group_send_cannot_carry_a_code(account):
    with pytest.raises(SendError) as raised:
        sms_group_send(account=account, group_ids=None, message="Code {OTP_CODE}", sender="ACME")

    assert raised.value.code == 422 and "{OTP_CODE}" in raised.value.description


def test_a_send_refused_for_credit_leaves_no_code_behind(api_client, account):
    Account.objects.filter(pk=account.pk).update(balance=Decimal(0))

    response = send_sms(api_client, message="Code {OTP_CODE}")

    assert error(response)[:2] == (402, 111)
    assert not OtpCode.objects.exists()


def test_reject_if_pending_code_refuses_a_recipient_with_a_pending_code(api_client):
    assert send_sms(api_client, message="Code {OTP_CODE}").status_code == 202

    response = send_sms(api_client, message="Code {OTP_CODE}", otpConfig={"rejectIfPendingCode": True})

    assert error(response) == (422, 422, "The recipient already has a pending code.")
    assert Message.objects.count() == 1
    assert OtpCode.objects.filter(status=OtpStatus.PENDING).count() == 1


# ---------------------------------------------------------------------------------------------
# Rate limits (SMS pumping)


def test_the_per_recipient_limit_answers_429_with_retry_after(api_client, settings):
    settings.OTP_MAX_CODES_PER_RECIPIENT = 2
    for _ in range(2):
        assert send_sms(api_client, message="Code {OTP_CODE}").status_code == 202

    response = send_sms(api_client, message="Code {OTP_CODE}")

    status, code, description = error(response)
    assert (status, code) == (429, 429)
    assert "a recipient may receive 2 codes every" in description
    assert int(response["Retry-After"]) > 0
    assert Message.objects.count() == 2


def test_the_per_account_limit_refuses_the_recipients_beyond_it_with_429(api_client, settings):
    settings.OTP_MAX_CODES_PER_ACCOUNT = 2

    response = send_sms(api_client, to=["34666555444", "34666555333", "34666555222"], message="Code {OTP_CODE}")

    assert response.status_code == 207
    results = response.json()["result"]
    assert [result["accepted"] for result in results] == [True, True, False]
    assert results[2]["error"]["code"] == 429
    assert "the account may generate 2 codes every" in results[2]["error"]["description"]
    assert Message.objects.count() == 2 and OtpCode.objects.count() == 2


def test_a_certified_message_with_a_code_is_certified_with_the_code_masked(api_client, gateway, fixed_codes):
    from messaging.events import events_record
    from messaging.providers.base import DeliveryEvent

    fixed_codes.append("5566")
    response = send_sms(api_client, message="Code {OTP_CODE}", certified=True)
    public_id = response.json()["result"][0]["id"]
    dispatch_due(budget_seconds=10)
    events_record(events=[DeliveryEvent(type="delivered", occurred_at=timezone.now(), message_public_id=public_id)])

    pdf = api_client.get(f"/api/rest/sms/certificates/{public_id}")

    assert pdf.status_code == 200
    assert b"5566" not in pdf.content
    from certificates.models import Certificate

    record = Certificate.objects.get().record
    assert "Code ****" in record and "5566" not in record
