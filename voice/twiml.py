"""TwiML for calls, built with the `twilio` package's VoiceResponse (escaping is its job).

- `twiml_speech(text=..., speaker=...)`: <Say voice="Polly.X" language="xx-XX">, then <Hangup>.
- `twiml_audio(audio_url=...)`: <Play>, then <Hangup>.
- `twiml_menu(...)`: a menu node: <Gather numDigits="1" action=... timeout=...> around its greeting
  (<Say> or <Play>), then <Redirect> to `no_key_url` (Twilio follows it when no key was pressed).
- `twiml_transfer(prefix=..., number=...)`: <Dial>+prefix number</Dial>.
- `twiml_hangup(text=..., speaker=...)`: an optional last sentence, then <Hangup>.
"""

from __future__ import annotations

from twilio.twiml.voice_response import Gather, VoiceResponse

from voice.languages import Speaker


def _greet(verb: VoiceResponse | Gather, *, text: str, speaker: Speaker | None, audio_url: str) -> None:
    if audio_url:
        verb.play(audio_url)
    elif speaker is not None:
        verb.say(text, voice=speaker.twilio_voice, language=speaker.say_language)
    else:
        verb.say(text)


def twiml_speech(*, text: str, speaker: Speaker) -> str:
    response = VoiceResponse()
    _greet(response, text=text, speaker=speaker, audio_url="")
    response.hangup()
    return str(response)


def twiml_audio(*, audio_url: str) -> str:
    response = VoiceResponse()
    response.play(audio_url)
    response.hangup()
    return str(response)


def twiml_menu(
    *,
    text: str,
    speaker: Speaker | None,
    audio_url: str,
    action_url: str,
    no_key_url: str,
    timeout_seconds: int,
) -> str:
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=action_url, method="POST", timeout=timeout_seconds)
    _greet(gather, text=text, speaker=speaker, audio_url=audio_url)
    response.redirect(no_key_url, method="POST")
    return str(response)


def twiml_transfer(*, prefix: str, number: str) -> str:
    response = VoiceResponse()
    response.dial(f"+{prefix}{number}")
    return str(response)


def twiml_hangup(*, text: str = "", speaker: Speaker | None = None) -> str:
    response = VoiceResponse()
    if text:
        _greet(response, text=text, speaker=speaker, audio_url="")
    response.hangup()
    return str(response)
