"""What a call says and does: the TwiML for a message and the answer to each key pressed.

Twilio fetches `call_twiml` when the callee answers, and posts every key pressed (or, after the
menu's timeout, nothing) to the Gather URL, answered synchronously by `gather_answer` with the next
node's TwiML: these answers cannot wait for the webhook batch task.

Decisions where the spec is silent:
- With AMD, a call answered by a machine (or a fax) is hung up at once, so it is not played to a
  voicemail and counts as not answered (the status callback reports `AnsweredBy`).
- No key within the timeout plays the node again, at most `speech_retries` more times, then hangs
  up. A key that has no option in the node is recorded too, and the node is played again (it counts
  as a play). `repeat` plays the node again without counting; `opt_out` puts the number on the
  account's voice blacklist and hangs up; `transfer` dials prefix + number.
- A token for a message that no longer exists answers <Hangup/> (Twilio needs TwiML, not an error).
"""

from __future__ import annotations

from django.db import transaction

from messaging.models import Message
from voice.languages import LANGUAGES, Speaker
from voice.models import MenuAction, SpeechType, VoiceMenu
from voice.options import VoiceOptions
from voice.services import keypress_record, voice_opt_out
from voice.signing import VoiceToken, gather_url
from voice.twiml import twiml_audio, twiml_hangup, twiml_menu, twiml_speech, twiml_transfer

MACHINE_ANSWERS = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")


def speaker_of(language: str, gender: str) -> Speaker | None:
    if language in LANGUAGES and gender in LANGUAGES[language].voices:
        return Speaker(language=language, gender=gender)
    return None


def menu_node_twiml(*, message: Message, menu: VoiceMenu, plays: int = 1) -> str:
    url = gather_url(VoiceToken(public_id=message.public_id, menu_id=menu.pk, plays=plays))
    return twiml_menu(
        text=menu.text,
        speaker=speaker_of(menu.language, menu.gender) if menu.speech_type == SpeechType.TTS else None,
        audio_url=menu.audio_url if menu.speech_type == SpeechType.AUDIO else "",
        action_url=url,
        no_key_url=url,
        timeout_seconds=menu.speech_timeout_seconds,
    )


def call_twiml(*, public_id: str, answered_by: str = "") -> str:
    """The TwiML of the call carrying message `public_id` (text, audio or the root menu)."""
    message = Message.objects.filter(public_id=public_id).first()
    if message is None:
        return twiml_hangup()
    options = VoiceOptions.from_json(message.options)
    if options.amd and answered_by in MACHINE_ANSWERS:
        return twiml_hangup()
    if options.menu_id is not None:
        menu = VoiceMenu.objects.filter(pk=options.menu_id, account_id=message.account_id).first()
        return menu_node_twiml(message=message, menu=menu) if menu else twiml_hangup()
    if options.audio_url:
        return twiml_audio(audio_url=options.audio_url)
    speaker = speaker_of(options.language, options.gender)
    if speaker is None:
        return twiml_hangup(text=message.body)
    return twiml_speech(text=message.body, speaker=speaker)


@transaction.atomic
def gather_answer(*, token: VoiceToken, digits: str) -> str:
    """Record the key pressed (if any) in answer to the node of `token`; the TwiML that follows."""
    message = Message.objects.filter(public_id=token.public_id).select_related("account", "sending").first()
    menu = None
    if message is not None and token.menu_id is not None:
        menu = VoiceMenu.objects.filter(pk=token.menu_id, account_id=message.account_id).first()
    if message is None or menu is None:
        return twiml_hangup()
    key = digits[:1]
    if not key:
        if token.plays <= menu.speech_retries:
            return menu_node_twiml(message=message, menu=menu, plays=token.plays + 1)
        return twiml_hangup()
    keypress_record(message=message, menu=menu, key=key)
    option = menu.options.filter(key=key).select_related("submenu").first()
    if option is None:
        if token.plays <= menu.speech_retries:
            return menu_node_twiml(message=message, menu=menu, plays=token.plays + 1)
        return twiml_hangup()
    if option.action == MenuAction.SUBMENU and option.submenu is not None:
        return menu_node_twiml(message=message, menu=option.submenu)
    if option.action == MenuAction.TRANSFER:
        return twiml_transfer(prefix=option.transfer_prefix, number=option.transfer_number)
    if option.action == MenuAction.OPT_OUT:
        voice_opt_out(message=message)
        return twiml_hangup()
    if option.action == MenuAction.REPEAT:
        return menu_node_twiml(message=message, menu=menu, plays=token.plays)
    return twiml_hangup()
