"""A call as Twilio plays it, against our views: the fake Twilio creates the call, fetches our signed
TwiML URL and posts the keys pressed; bad or expired signatures answer 403."""

import time
import xml.etree.ElementTree as ET
from urllib.parse import urlencode, urlsplit

import pytest
from django.core import signing
from django.test import Client

from contacts.models import BlacklistEntry
from messaging.models import ProviderRoute
from messaging.providers.base import OutboundMessage
from messaging.providers.twilio_voice import TwilioVoiceProvider
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.fakes.twilio_voice import FakeTwilioVoice, twiml_gather_action
from tests.messaging.provider_contract import message_create
from voice.models import Keypress
from voice.options import VoiceOptions
from voice.services import voice_menu_create
from voice.signing import TWIML_URL_MAX_AGE, VoiceToken, twiml_url

PUBLIC = "http://localhost:8000"
CALLER = "+34911222333"

MENU = {
    "speech_type": "tts",
    "text": "Press 1 for offers, 9 to stop these calls.",
    "language": "en_GB",
    "gender": "M",
    "speech_retries": 1,
    "options": [
        {
            "key": "1",
            "action": "submenu",
            "menu": {
                "speech_type": "tts",
                "text": "Press 2 to talk to us.",
                "language": "en_GB",
                "gender": "F",
                "options": [
                    {"key": "2", "action": "transfer", "transfer_prefix": "34", "transfer_number": "900111222"},
                    {"key": "*", "action": "repeat"},
                ],
            },
        },
        {"key": "9", "action": "opt_out"},
        {"key": "0", "action": "hangup"},
    ],
}


def client_transport(url, params, headers):
    response = Client().post(
        url.removeprefix(PUBLIC),
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )
    return response.status_code, response.content.decode()


@pytest.fixture
def fake():
    with FakeTwilioVoice(transport=client_transport) as server:
        yield server


@pytest.fixture
def route(db):
    return ProviderRoute.objects.create(
        channel="text2speech", provider="twilio_voice", settings={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    )


def call_for(fake, account, options: VoiceOptions, *, body="Your parcel arrives today.", channel="text2speech"):
    """A message of ours and the call the fake Twilio created for it (as the dispatcher would)."""
    message = message_create(account, channel=channel, provider="twilio_voice", body=body, options=options.to_json())
    provider = TwilioVoiceProvider(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": fake.api_base, "from": CALLER}
    )
    sid = provider.send(
        OutboundMessage(
            message_id=message.pk,
            public_id=message.public_id,
            channel=channel,
            sender="",
            recipient=message.recipient,
            body=message.body,
            options=message.options,
        )
    )
    message.provider_message_id = sid
    message.save(update_fields=["provider_message_id"])
    return message, sid


def answer(fake, sid, **kwargs):
    status, body = fake.send(fake.fetch_twiml(sid, **kwargs))
    assert status == 200
    return body


def press(fake, sid, twiml, digits):
    status, body = fake.send(fake.gather(sid, twiml_gather_action(twiml), digits))
    assert status == 200
    return body


def test_a_text_call_says_the_message_in_the_chosen_voice(fake, route, account):
    _message, sid = call_for(fake, account, VoiceOptions(language="es_ES", gender="F"), body="Hola Ana")
    say = ET.fromstring(answer(fake, sid)).find("Say")
    assert (say.text, say.get("voice"), say.get("language")) == ("Hola Ana", "Polly.Conchita", "es-ES")


def test_an_audio_call_plays_the_file(fake, route, account):
    _message, sid = call_for(fake, account, VoiceOptions(audio_url="https://example.com/a.mp3"))
    assert ET.fromstring(answer(fake, sid)).find("Play").text == "https://example.com/a.mp3"


def test_with_amd_a_machine_is_hung_up_on_at_once(fake, route, account):
    _message, sid = call_for(fake, account, VoiceOptions(language="en_US", gender="F", amd=True))
    assert [child.tag for child in ET.fromstring(answer(fake, sid, answered_by="machine_start"))] == ["Hangup"]
    assert ET.fromstring(answer(fake, sid, answered_by="human")).find("Say") is not None


def test_a_two_level_menu_records_each_key_with_the_menu_it_answered_and_transfers(fake, route, account):
    menu = voice_menu_create(account=account, name="Offers", definition=MENU)
    message, sid = call_for(fake, account, VoiceOptions(menu_id=menu.pk), channel="voice-interactive")

    root = answer(fake, sid)
    assert ET.fromstring(root).find("Gather/Say").text == MENU["text"]
    submenu = press(fake, sid, root, "1")
    assert ET.fromstring(submenu).find("Gather/Say").text == "Press 2 to talk to us."
    transfer = press(fake, sid, submenu, "2")
    assert ET.fromstring(transfer).find("Dial").text == "+34900111222"

    keys = list(Keypress.objects.filter(message=message).values_list("key", "menu_text", "recipient", "sending_id"))
    assert keys == [
        ("1", MENU["text"], message.recipient, message.sending_id),
        ("2", "Press 2 to talk to us.", message.recipient, message.sending_id),
    ]


def test_the_opt_out_key_blacklists_the_number_for_voice_and_hangs_up(fake, route, account):
    menu = voice_menu_create(account=account, name="Offers", definition=MENU)
    message, sid = call_for(fake, account, VoiceOptions(menu_id=menu.pk), channel="voice-interactive")

    assert [c.tag for c in ET.fromstring(press(fake, sid, answer(fake, sid), "9"))] == ["Hangup"]
    assert BlacklistEntry.objects.filter(account=account, type="voice", recipient=message.recipient).exists()


def test_no_key_replays_the_menu_speech_retries_times_then_hangs_up(fake, route, account):
    menu = voice_menu_create(account=account, name="Offers", definition=MENU)
    _message, sid = call_for(fake, account, VoiceOptions(menu_id=menu.pk), channel="voice-interactive")

    again = press(fake, sid, answer(fake, sid), "")
    assert ET.fromstring(again).find("Gather/Say").text == MENU["text"]
    assert [c.tag for c in ET.fromstring(press(fake, sid, again, ""))] == ["Hangup"]
    assert not Keypress.objects.exists()


def test_a_key_without_an_option_is_recorded_and_the_menu_played_again(fake, route, account):
    menu = voice_menu_create(account=account, name="Offers", definition=MENU)
    _message, sid = call_for(fake, account, VoiceOptions(menu_id=menu.pk), channel="voice-interactive")

    again = press(fake, sid, answer(fake, sid), "5")
    assert ET.fromstring(again).find("Gather") is not None
    assert list(Keypress.objects.values_list("key", flat=True)) == ["5"]


# Signatures --------------------------------------------------------------------------------------


def test_a_tampered_twiml_url_answers_403(fake, route, account):
    _message, sid = call_for(fake, account, VoiceOptions(language="en_US", gender="F"))
    url = fake.call(sid)["url"]
    token = urlsplit(url).path.split("/")[-2]
    forged = url.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert fake.send(fake.fetch_twiml(sid, url=forged))[0] == 403


def test_an_expired_twiml_url_answers_403(fake, route, account, monkeypatch):
    message, sid = call_for(fake, account, VoiceOptions(language="en_US", gender="F"))
    issued = time.time() - TWIML_URL_MAX_AGE - 5
    monkeypatch.setattr(signing.time, "time", lambda: issued)
    old_url = twiml_url(VoiceToken(public_id=message.public_id))
    monkeypatch.undo()
    assert fake.send(fake.fetch_twiml(sid, url=old_url))[0] == 403


def test_a_request_not_signed_by_twilio_answers_403(fake, route, account):
    _message, sid = call_for(fake, account, VoiceOptions(language="en_US", gender="F"))
    url, params, _headers = fake.fetch_twiml(sid)
    assert fake.send((url, params, {}))[0] == 403
    assert fake.send(fake.fetch_twiml(sid, auth_token="another-token"))[0] == 403


def test_a_gather_answer_signed_with_another_token_answers_403_and_records_nothing(fake, route, account):
    menu = voice_menu_create(account=account, name="Offers", definition=MENU)
    _message, sid = call_for(fake, account, VoiceOptions(menu_id=menu.pk), channel="voice-interactive")
    action = twiml_gather_action(answer(fake, sid))
    assert fake.send(fake.gather(sid, action, "1", auth_token="another-token"))[0] == 403
    assert not Keypress.objects.exists()


def test_twiml_urls_answer_only_post(client, route, account):
    url = twiml_url(VoiceToken(public_id="X"))
    assert client.get(url.removeprefix(PUBLIC)).status_code == 405
