"""What a voice message carries besides its text, typed: `Message.options["voice"]`.

The send pipeline's voice channel writes it at accept (`VoiceOptions(...).to_json()`); the TwiML
view and the providers read it back with `VoiceOptions.from_json(message.options)`. Keeping it
one frozen dataclass means the keys are written down once instead of in a comment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

OPTIONS_KEY = "voice"


@dataclass(frozen=True)
class VoiceOptions:
    language: str = ""  # a voice.languages code (text to speech)
    gender: str = ""  # F | M
    audio_url: str = ""  # voiceAudio: what is played instead of the text
    menu_id: int | None = None  # voice-interactive: the root VoiceMenu
    amd: bool = False  # answering machine detection: a machine's answer ends the call
    retries: int = 0  # further calls when nobody answers (0-5)
    attempt: int = 1  # which call this message is (1 = the first)
    previous_call_sid: str = ""  # the provider id of the previous attempt's call (lookup stops there)

    def to_json(self) -> dict[str, Any]:
        return {OPTIONS_KEY: asdict(self)}

    @classmethod
    def from_json(cls, options: dict[str, Any] | None) -> VoiceOptions:
        data = (options or {}).get(OPTIONS_KEY) or {}
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)
