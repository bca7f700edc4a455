"""The error the voice services raise when they refuse input (a leaf: it imports no service).

`VoiceError(code, description, field)` carries the reference spec's code from its Errors table
(130-134 for the voice and voiceAudio sends, 160-196 for interactive voice) and the field it is
about, so an API layer answers it in its envelope and a staff form puts the message beside the
field. The send pipeline's voice channel module turns it into its own refusal type.
"""

from __future__ import annotations

# The spec's descriptions, verbatim (typos included: they are what clients match on).
VOICE_ERRORS: dict[int, str] = {
    104: "Text message missing",
    105: "Text message too long",
    130: "Invalid voice language",
    131: "Invalid voice gender",
    132: "Invalid voice caller",
    133: "Invalid audio URL",
    134: "Unsupported audio format",
    160: "Invalid voice interactive language",
    161: "Invalid voice interactive gender",
    162: "Invalid voice interactive caller",
    163: "Invalid voice interactive audio URL",
    164: "Unsupported voice interactive audio format",
    165: "Invalid voice interactive speech type",
    166: "Ivalid voice interactive menu option type",
    168: "Empty speech type",
    169: "Empty menu",
    170: "Empty phone key",
    171: "Phone Key is not a number",
    172: "Phone key out of range",
    173: "Empty menu options for sub menu",
    174: "Empty phone prefix for call transfer",
    175: "Empty phone for call transfer",
    176: "Call retries value is not an integer",
    177: "Call retries value out of range",
    179: "Speech retries value is not an integer",
    180: "Speech retries value out of range",
    181: "Speech timeout seconds value is not an integer",
    182: "Speech timeout seconds value out of range",
    190: "Call Retries is specified but its value is empty",
    192: "Speech Retries is specified but its value is empty",
    193: "Speech timeout seconds is specified but its value is empty",
}


class VoiceError(Exception):
    """Voice input refused with one of the spec's codes; `field` names what was wrong
    (`menu.options.1.transfer_number`, `language`, ...)."""

    def __init__(self, code: int, *, field: str = "", detail: str = ""):
        self.code = code
        self.field = field
        self.description = VOICE_ERRORS[code]
        self.detail = detail or self.description
        super().__init__(f"{self.description} ({field})" if field else self.description)
