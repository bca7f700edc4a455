"""The Twilio voice provider against the local fake of Twilio's Calls API: the send contract, the
Calls request fields, batches and reconciliation lookups."""

from urllib.parse import urlsplit

import pytest
from django.test import override_settings

from messaging.providers import provider_class
from messaging.providers.base import OutboundMessage, ProviderError
from messaging.providers.twilio_voice import TwilioVoiceProvider
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.fakes.twilio_voice import FakeTwilioVoice
from tests.messaging.send_contract import ProviderSendContract
from voice.options import VoiceOptions
from voice.signing import voice_token_read

CALLER = "+34911222333"


def voice_message(message_id: int = 1, *, recipient: str = "34666555444", **options) -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        public_id=f"V{message_id:011d}",
        channel="text2speech",
        sender="",
        recipient=recipient,
        body="Your appointment is tomorrow at ten.",
        options=VoiceOptions(language="en_GB", gender="F", **options).to_json(),
    )


def make_provider(fake: FakeTwilioVoice, **settings) -> TwilioVoiceProvider:
    return TwilioVoiceProvider(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": fake.api_base, "from": CALLER, **settings}
    )


class TestTwilioVoiceSendContract(ProviderSendContract):
    secrets = (AUTH_TOKEN,)

    def start_fake(self):
        return FakeTwilioVoice().start()

    def provider_for(self, fake, **settings):
        return make_provider(fake, **settings)

    def outbound(self, message_id=1):
        return voice_message(message_id)

    def taken(self, fake):
        return len(fake.calls)

    def fail_next(self, fake, status, code):
        fake.fail_next(status, code, f"Injected {code}")

    def delay_next(self, fake, seconds):
        fake.delay_next(seconds)


@pytest.fixture
def fake():
    with FakeTwilioVoice() as server:
        yield server


def test_twilio_voice_is_registered_for_both_voice_channels():
    cls = provider_class("twilio_voice")
    assert cls is TwilioVoiceProvider
    assert cls.channels == {"text2speech", "voice-interactive"}


@override_settings(PUBLIC_URL="https://campaigns.example.com")
def test_a_call_asks_for_our_signed_twiml_and_every_progress_event(fake):
    sid = make_provider(fake).send(voice_message())

    call = fake.call(sid)
    assert (call["to"], call["from"], call["method"]) == ("+34666555444", CALLER, "POST")
    assert call["status_callback"] == "https://campaigns.example.com/webhooks/twilio_voice/"
    assert call["status_callback_events"] == ["initiated", "ringing", "answered", "completed"]
    assert call["machine_detection"] == ""
    url = urlsplit(call["url"])
    assert (url.scheme, url.netloc) == ("https", "campaigns.example.com")
    assert url.path.startswith("/webhooks/voice/twiml/")
    assert voice_token_read(url.path.split("/")[-2]).public_id == "V00000000001"


def test_amd_asks_twilio_for_machine_detection(fake):
    sid = make_provider(fake).send(voice_message(amd=True))
    assert fake.call(sid)["machine_detection"] == "Enable"


def test_the_messages_caller_id_is_used_when_it_has_one(fake):
    message = voice_message()
    message = OutboundMessage(**{**message.__dict__, "sender": "34900111222"})
    sid = make_provider(fake).send(message)
    assert fake.call(sid)["from"] == "+34900111222"


def test_ring_timeout_is_passed_when_the_route_sets_one(fake):
    sid = make_provider(fake, ring_timeout=25).send(voice_message())
    assert fake.call(sid)["timeout"] == "25"


def test_an_invalid_number_is_rejected_with_twilios_code_and_message(fake):
    with pytest.raises(ProviderError) as caught:
        make_provider(fake).send(voice_message(recipient="12"))
    assert (caught.value.permanent, caught.value.code) == (True, "21211")
    assert "Invalid 'To' Phone Number" in caught.value.reason
    assert fake.calls == []


def test_wrong_credentials_are_twilios_20003_and_transient(fake):
    provider = TwilioVoiceProvider({"account_sid": ACCOUNT_SID, "auth_token": "wrong", "api_base": fake.api_base})
    with pytest.raises(ProviderError) as caught:
        provider.send(voice_message())
    assert (caught.value.permanent, caught.value.code) == (False, "20003")


def test_missing_credentials_are_a_transient_configuration_error(monkeypatch):
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with pytest.raises(ProviderError) as caught:
        TwilioVoiceProvider({}).send(voice_message())
    assert (caught.value.permanent, caught.value.code) == (False, "config")


def test_a_batch_keeps_requests_in_flight_and_answers_in_order(fake):
    fake.fail_for("+34666000003", 400, 21211, "Invalid 'To' Phone Number")
    messages = [voice_message(n, recipient=f"3466600000{n}") for n in range(1, 7)]

    results = make_provider(fake, in_flight=3).send_batch(messages)

    assert [r.message_id for r in results] == [1, 2, 3, 4, 5, 6]
    assert [r.accepted for r in results] == [True, True, False, True, True, True]
    assert results[2].error.code == "21211"
    assert len({r.provider_message_id for r in results if r.accepted}) == 5


def test_lookup_stops_at_the_previous_attempts_call(fake):
    provider = make_provider(fake)
    first = provider.send(voice_message(1))

    retry = voice_message(2, previous_call_sid=first, attempt=2)
    assert provider.lookup(retry) is None
    second = provider.send(retry)
    assert provider.lookup(retry) == second


def test_lookup_that_finds_several_calls_cannot_tell(fake):
    provider = make_provider(fake)
    provider.send(voice_message(1))
    provider.send(voice_message(2))
    with pytest.raises(NotImplementedError):
        provider.lookup(voice_message(3))


def test_lookup_lists_by_to_from_and_start_time(fake, monkeypatch):
    seen = []
    original = fake.list_calls
    monkeypatch.setattr(fake, "list_calls", lambda query, path: seen.append(query) or original(query, path))
    make_provider(fake).lookup(voice_message())
    assert set(seen[0]) == {"To", "From", "StartTime>", "PageSize"}
    assert (seen[0]["To"], seen[0]["From"]) == ("+34666555444", CALLER)
