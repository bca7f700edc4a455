"""TwiML built with the twilio package's VoiceResponse: text to speech, audio, a menu node, a transfer."""

import xml.etree.ElementTree as ET

from voice.languages import speaker_clean
from voice.twiml import twiml_audio, twiml_hangup, twiml_menu, twiml_speech, twiml_transfer


def verbs(xml: str) -> list[tuple[str, dict[str, str], str]]:
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return [(child.tag, dict(child.attrib), child.text or "") for child in root]


def test_text_to_speech_says_the_text_with_the_polly_voice_and_language_then_hangs_up():
    xml = twiml_speech(text="Hola, <Ana> & co", speaker=speaker_clean(language="es_ES", gender="M"))
    assert verbs(xml) == [
        ("Say", {"voice": "Polly.Enrique", "language": "es-ES"}, "Hola, <Ana> & co"),
        ("Hangup", {}, ""),
    ]
    assert "&lt;Ana&gt; &amp; co" in xml  # escaped by VoiceResponse


def test_audio_plays_the_file_then_hangs_up():
    assert verbs(twiml_audio(audio_url="https://example.com/a.mp3?x=1&y=2")) == [
        ("Play", {}, "https://example.com/a.mp3?x=1&y=2"),
        ("Hangup", {}, ""),
    ]


def test_a_menu_node_gathers_one_digit_around_its_greeting_and_redirects_when_no_key_comes():
    xml = twiml_menu(
        text="Press 1",
        speaker=speaker_clean(language="en_US", gender="F"),
        audio_url="",
        action_url="https://campaigns.example.com/webhooks/voice/gather/abc/",
        no_key_url="https://campaigns.example.com/webhooks/voice/gather/abc/",
        timeout_seconds=7,
    )
    root = ET.fromstring(xml)
    gather = root.find("Gather")
    assert gather.attrib == {
        "numDigits": "1",
        "action": "https://campaigns.example.com/webhooks/voice/gather/abc/",
        "method": "POST",
        "timeout": "7",
    }
    say = gather.find("Say")
    assert (say.text, say.get("voice"), say.get("language")) == ("Press 1", "Polly.Joanna", "en-US")
    assert [child.tag for child in root] == ["Gather", "Redirect"]
    assert root.find("Redirect").text == "https://campaigns.example.com/webhooks/voice/gather/abc/"


def test_an_audio_menu_node_plays_inside_the_gather():
    xml = twiml_menu(
        text="",
        speaker=None,
        audio_url="https://example.com/menu.wav",
        action_url="u",
        no_key_url="u",
        timeout_seconds=5,
    )
    assert ET.fromstring(xml).find("Gather/Play").text == "https://example.com/menu.wav"


def test_a_transfer_dials_prefix_and_number():
    assert verbs(twiml_transfer(prefix="34", number="911222333")) == [("Dial", {}, "+34911222333")]


def test_hangup_may_say_a_last_sentence():
    assert verbs(twiml_hangup()) == [("Hangup", {}, "")]
    assert [tag for tag, _a, _t in verbs(twiml_hangup(text="Bye"))] == ["Say", "Hangup"]
