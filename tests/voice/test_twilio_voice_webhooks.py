"""Twilio's call status callbacks: the webhook contract, one test per fixture (Twilio's published
shapes), the declared event types, and the events recorded from them."""

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from messaging.models import Event, InboundWebhook, MessageStatus, ProviderRoute
from messaging.providers.twilio_voice import (
    CALL_STATUS_EVENTS,
    EVENT_TYPES,
    TwilioVoiceProvider,
    UnsupportedWebhookEvent,
)
from messaging.webhooks import inbound_webhooks_process
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, sign
from tests.fakes.twilio_voice import FIXTURE_ACCOUNT, FIXTURE_CALL, fixture_fields
from tests.messaging.provider_contract import (
    WebhookRequest,
    WebhookSignatureContract,
    fresh_webhook_state,  # noqa: F401  (autouse)
    message_create,
    post,
)

STATUS_URL = "http://localhost:8000/webhooks/twilio_voice/"
CALL_SID = "CA" + "1" * 32


def callback_fields(fixture: str, sid: str = CALL_SID, **overrides: str) -> dict[str, str]:
    fields = fixture_fields(fixture)
    for name, value in list(fields.items()):
        fields[name] = {FIXTURE_ACCOUNT: ACCOUNT_SID, FIXTURE_CALL: sid}.get(value, value)
    return {**fields, **overrides}


def callback(fixture: str, sid: str = CALL_SID, token: str = AUTH_TOKEN, **overrides: str) -> WebhookRequest:
    fields = callback_fields(fixture, sid, **overrides)
    return WebhookRequest(
        path="/webhooks/twilio_voice/",
        body=urlencode(fields).encode(),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign(token, STATUS_URL, fields)},
    )


def parse(fixture: str, **overrides: str):
    return TwilioVoiceProvider().parse_webhook(
        "application/x-www-form-urlencoded", urlencode(callback_fields(fixture, **overrides)).encode()
    )


class TestTwilioVoiceWebhookContract(WebhookSignatureContract):
    provider = "twilio_voice"

    def configure(self, account):
        ProviderRoute.objects.create(
            channel="text2speech",
            provider="twilio_voice",
            settings={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        )

    def message_for(self, account):
        return message_create(
            account, channel="text2speech", provider="twilio_voice", provider_message_id=CALL_SID, body="Hello"
        )

    def delivered_report(self, message):
        return callback("call_completed", message.provider_message_id)

    def tampered(self, request):
        return WebhookRequest(
            request.path,
            request.body.replace(b"CallDuration=27", b"CallDuration=2"),
            request.content_type,
            request.headers,
        )

    def unsigned(self, request):
        return request.without_headers("X-Twilio-Signature")

    def wrong_secret(self, message):
        return callback("call_completed", message.provider_message_id, token="not-our-token")


# One test per fixture --------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["call_initiated", "call_ringing", "call_answered"])
def test_progress_before_the_end_records_nothing(fixture):
    assert parse(fixture) == []


def test_call_completed_is_delivered_with_its_duration_and_twilios_timestamp():
    [event] = parse("call_completed")
    assert (event.type, event.provider, event.provider_message_id) == ("delivered", "twilio_voice", CALL_SID)
    assert event.provider_event_id == f"{CALL_SID}:completed"
    assert event.extra == {"call_status": "completed", "duration_seconds": 27}
    assert event.occurred_at == datetime(2010, 8, 31, 20, 36, 56, tzinfo=UTC)


def test_call_completed_busy_is_undelivered_and_free():
    [event] = parse("call_completed_busy")
    assert (event.type, event.reason, event.extra["duration_seconds"]) == ("undelivered", "call busy", 0)


def test_call_no_answer_is_undelivered():
    [event] = parse("call_no_answer")
    assert (event.type, event.reason) == ("undelivered", "call no-answer")


def test_call_answered_by_a_machine_is_undelivered_and_not_charged():
    [event] = parse("call_answered_machine")
    assert (event.type, event.reason) == ("undelivered", "answered by machine start")
    assert event.extra == {"call_status": "completed", "duration_seconds": 0, "answered_by": "machine_start"}


def test_a_call_a_person_answered_with_amd_is_delivered():
    [event] = parse("call_completed", AnsweredBy="human")
    assert event.type == "delivered" and event.extra["answered_by"] == "human"


def test_gather_digit_2_is_answered_by_the_voice_views_not_here():
    assert parse("gather_digit_2") == []


def test_a_call_twilio_refused_to_dial_is_rejected():
    [event] = parse("call_completed_busy", CallStatus="failed", ErrorCode="13224")
    assert (event.type, event.reason) == ("rejected", "Twilio error 13224")


def test_a_failed_call_without_a_refusal_code_is_undelivered():
    [event] = parse("call_completed_busy", CallStatus="failed")
    assert event.type == "undelivered"


def test_every_declared_call_status_is_mapped_and_others_are_unsupported():
    assert set(CALL_STATUS_EVENTS) == EVENT_TYPES
    assert EVENT_TYPES >= {"queued", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"}
    with pytest.raises(UnsupportedWebhookEvent):
        parse("call_completed", CallStatus="teleported")


def test_a_callback_without_call_sid_is_refused():
    body = urlencode({"CallStatus": "completed"}).encode()
    with pytest.raises(ValueError, match="CallSid"):
        TwilioVoiceProvider().parse_webhook("application/x-www-form-urlencoded", body)


# End to end through the webhook path ----------------------------------------------------------


@pytest.mark.django_db
def test_an_unknown_call_status_stays_stored_with_its_error(account):
    ProviderRoute.objects.create(
        channel="text2speech", provider="twilio_voice", settings={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    )
    assert post(callback("call_completed", CallStatus="teleported")).status_code == 200
    inbound_webhooks_process()
    row = InboundWebhook.objects.get()
    assert row.processed_at is None and "UnsupportedWebhookEvent" in row.error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fixtures", "status", "events"),
    [
        (["call_initiated", "call_ringing", "call_answered", "call_completed"], MessageStatus.DELIVERED, ["delivered"]),
        (["call_initiated", "call_ringing", "call_no_answer"], MessageStatus.UNDELIVERED, ["undelivered"]),
        (["call_initiated", "call_answered_machine"], MessageStatus.UNDELIVERED, ["undelivered"]),
    ],
)
def test_a_calls_callbacks_end_as_one_event_on_its_message(account, fixtures, status, events):
    ProviderRoute.objects.create(
        channel="text2speech", provider="twilio_voice", settings={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    )
    message = message_create(account, channel="text2speech", provider="twilio_voice", provider_message_id=CALL_SID)
    for fixture in fixtures:
        assert post(callback(fixture)).status_code == 200
    inbound_webhooks_process()

    message.refresh_from_db()
    assert message.status == status
    assert list(Event.objects.filter(message=message).values_list("type", flat=True)) == events
    if status == MessageStatus.DELIVERED:
        assert Event.objects.get(message=message).extra["duration_seconds"] == 27
