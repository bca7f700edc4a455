"""The spec's text-to-speech languages and genders, and the Twilio voice that speaks each pair.

The spec lists twelve languages; cmn_CN, arb and hi_IN are "available only in female gender".
Each (language, gender) maps to one Amazon Polly voice as Twilio names it in `<Say voice=...>`
(`Polly.<Name>`), with the BCP-47 tag for `<Say language=...>`. Decisions where the spec is silent:
- Codes are matched exactly (`es_ES`, not `es-es`): they are the spec's literal options.
- The Polly voice chosen per pair is a standard (not neural) voice Twilio offers for that
  language, so it works on every Twilio account; an operator who prefers another edits this table.
- A plain voice send refuses a bad language with 130 and a bad gender with 131; interactive voice
  uses 160 / 161 (the Errors table has both sets). `speaker_clean(interactive=...)` picks the set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from voice.errors import VoiceError

FEMALE: Final = "F"
MALE: Final = "M"
GENDERS: Final = (FEMALE, MALE)


@dataclass(frozen=True)
class Language:
    code: str  # the spec's option
    name: str  # the spec's description
    say_language: str  # BCP-47, for <Say language=...>
    voices: dict[str, str]  # gender -> Twilio voice name


LANGUAGES: Final[dict[str, Language]] = {
    language.code: language
    for language in (
        Language("en_GB", "English - United Kingdom", "en-GB", {FEMALE: "Polly.Amy", MALE: "Polly.Brian"}),
        Language("en_US", "English - United States", "en-US", {FEMALE: "Polly.Joanna", MALE: "Polly.Matthew"}),
        Language("es_ES", "Spanish - España", "es-ES", {FEMALE: "Polly.Conchita", MALE: "Polly.Enrique"}),
        Language("es_US", "Spanish - Latino", "es-US", {FEMALE: "Polly.Penelope", MALE: "Polly.Miguel"}),
        Language("pt_PT", "Portuguese - Portugal", "pt-PT", {FEMALE: "Polly.Ines", MALE: "Polly.Cristiano"}),
        Language("pt_BR", "Portuguese - Brazil", "pt-BR", {FEMALE: "Polly.Vitoria", MALE: "Polly.Ricardo"}),
        Language("cmn_CN", "Mandarin Chinese - China", "cmn-CN", {FEMALE: "Polly.Zhiyu"}),
        Language("arb", "Arab", "arb", {FEMALE: "Polly.Zeina"}),
        Language("de_DE", "German - Germany", "de-DE", {FEMALE: "Polly.Marlene", MALE: "Polly.Hans"}),
        Language("fr_FR", "French - France", "fr-FR", {FEMALE: "Polly.Celine", MALE: "Polly.Mathieu"}),
        Language("it_IT", "Italian - Italy", "it-IT", {FEMALE: "Polly.Carla", MALE: "Polly.Giorgio"}),
        Language("hi_IN", "Indi - India", "hi-IN", {FEMALE: "Polly.Aditi"}),
    )
}

LANGUAGE_CHOICES: Final = [(code, language.name) for code, language in LANGUAGES.items()]
GENDER_CHOICES: Final = [(FEMALE, "Female"), (MALE, "Male")]


@dataclass(frozen=True)
class Speaker:
    """A valid (language, gender) pair and what Twilio needs to speak it."""

    language: str
    gender: str

    @property
    def say_language(self) -> str:
        return LANGUAGES[self.language].say_language

    @property
    def twilio_voice(self) -> str:
        return LANGUAGES[self.language].voices[self.gender]


def speaker_clean(*, language: object, gender: object, interactive: bool = True, field_prefix: str = "") -> Speaker:
    """The (language, gender) pair, or VoiceError: 160 / 161 (130 / 131 when not interactive).
    A gender the language does not offer (M for cmn_CN, arb, hi_IN) is a gender error."""
    language_code, gender_code = (160, 161) if interactive else (130, 131)
    if not isinstance(language, str) or language not in LANGUAGES:
        raise VoiceError(language_code, field=f"{field_prefix}language")
    if not isinstance(gender, str) or gender not in GENDERS:
        raise VoiceError(gender_code, field=f"{field_prefix}gender")
    if gender not in LANGUAGES[language].voices:
        raise VoiceError(
            gender_code, field=f"{field_prefix}gender", detail=f"{LANGUAGES[language].name} has only a female voice."
        )
    return Speaker(language=language, gender=gender)
