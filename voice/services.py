"""Voice services: the one validation of interactive menus (`voice_menu_clean`), writing menus,
caller ids, call retries, audio URLs, and recording the keys callees press.

Everything that refuses input raises `voice.errors.VoiceError` with the spec's code and the field.

Decisions where the spec is silent:
- A menu definition is a plain mapping (what the API, the staff builder and the admin all produce):
  `{"speech_type": "tts"|"audio", "text", "language", "gender", "audio_url", "speech_retries",
  "speech_timeout_seconds", "options": [{"key", "action", "menu": {...}, "transfer_prefix",
  "transfer_number"}]}`; an option's `menu` is the sub-menu's own definition.
- Speech retries are 0-5 (default 1) and the speech timeout 1-30 seconds (default 5); a value sent
  empty is 192 / 193, one that is not an integer (booleans and fractions included) 179 / 181, out
  of range 180 / 182. Integers may come as JSON numbers or as strings of digits (HTML forms).
- Keys are 0-9, `*` and `#`. A key left empty is 170; several digits or a negative number ("10",
  -1) are 172 (out of range); anything else ("a", "1.5") is 171. A key used twice in one menu is 172.
- A greeting spoken from text needs the text (104 when empty, 105 over 500 characters, as a voice
  message) and a language and gender (160 / 161). An audio greeting needs an http(s) URL (163) of
  an MP3 or WAV file (164, judged from the extension; a URL without one is accepted here and its
  Content-Type is checked when it is fetched).
- Transfers: the prefix is 1-4 digits (174 when empty or not digits), the number 4-15 digits (175).
- A root menu needs at least one option (169): a greeting without keys is a plain voice message.
  A sub-menu needs one too (173). Menus nest at most MAX_MENU_DEPTH levels (169 beyond).
- Call retries are 0-5: 190 when sent empty, 176 when not an integer, 177 out of range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from voice.errors import VoiceError
from voice.languages import speaker_clean
from voice.models import MENU_KEYS, CallerId, Keypress, MenuAction, SpeechType, VoiceMenu, VoiceMenuOption

SPEECH_RETRIES_RANGE: Final = (0, 5)
SPEECH_TIMEOUT_RANGE: Final = (1, 30)
CALL_RETRIES_RANGE: Final = (0, 5)
DEFAULT_SPEECH_RETRIES: Final = 1
DEFAULT_SPEECH_TIMEOUT: Final = 5
MAX_TEXT_LENGTH: Final = 500
MAX_MENU_DEPTH: Final = 5
AUDIO_EXTENSIONS: Final = frozenset({"mp3", "wav"})


@dataclass(frozen=True)
class MenuOptionSpec:
    key: str
    action: str
    submenu: MenuSpec | None = None
    transfer_prefix: str = ""
    transfer_number: str = ""


@dataclass(frozen=True)
class MenuSpec:
    """A validated menu node and, through its options, its sub-menus."""

    speech_type: str
    text: str
    language: str
    gender: str
    audio_url: str
    speech_retries: int
    speech_timeout_seconds: int
    options: tuple[MenuOptionSpec, ...]


# Menus ------------------------------------------------------------------------------------------


def voice_menu_clean(*, definition: object, field: str = "menu", depth: int = 1) -> MenuSpec:
    """Validate a menu definition (see the module docstring) and its sub-menus; the typed menu or
    VoiceError with the spec's code and the field (`menu.options.0.menu.text`)."""
    if not isinstance(definition, Mapping) or not definition:
        raise VoiceError(169, field=field)
    if depth > MAX_MENU_DEPTH:
        raise VoiceError(169, field=field, detail=f"Menus nest at most {MAX_MENU_DEPTH} levels.")
    speech_type = definition.get("speech_type")
    if speech_type in (None, ""):
        raise VoiceError(168, field=f"{field}.speech_type")
    if speech_type not in SpeechType.values:
        raise VoiceError(165, field=f"{field}.speech_type")
    text = language = gender = audio_url = ""
    if speech_type == SpeechType.TTS:
        text = _text_clean(definition.get("text"), field=f"{field}.text")
        speaker = speaker_clean(
            language=definition.get("language"), gender=definition.get("gender"), field_prefix=f"{field}."
        )
        language, gender = speaker.language, speaker.gender
    else:
        audio_url = audio_url_clean(url=definition.get("audio_url"), interactive=True, field=f"{field}.audio_url")
    speech_retries = _integer_clean(
        definition, "speech_retries", DEFAULT_SPEECH_RETRIES, SPEECH_RETRIES_RANGE, codes=(192, 179, 180), field=field
    )
    speech_timeout = _integer_clean(
        definition,
        "speech_timeout_seconds",
        DEFAULT_SPEECH_TIMEOUT,
        SPEECH_TIMEOUT_RANGE,
        codes=(193, 181, 182),
        field=field,
    )
    raw_options = definition.get("options")
    if not isinstance(raw_options, list | tuple) or not raw_options:
        raise VoiceError(173 if depth > 1 else 169, field=f"{field}.options")
    options: list[MenuOptionSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_options):
        option = _option_clean(raw, field=f"{field}.options.{index}", depth=depth)
        if option.key in seen:
            raise VoiceError(172, field=f"{field}.options.{index}.key", detail=f"Key {option.key} is used twice.")
        seen.add(option.key)
        options.append(option)
    return MenuSpec(
        speech_type=speech_type,
        text=text,
        language=language,
        gender=gender,
        audio_url=audio_url,
        speech_retries=speech_retries,
        speech_timeout_seconds=speech_timeout,
        options=tuple(options),
    )


def _option_clean(raw: object, *, field: str, depth: int) -> MenuOptionSpec:
    if not isinstance(raw, Mapping):
        raise VoiceError(166, field=field)
    key = menu_key_clean(raw.get("key"), field=f"{field}.key")
    action = raw.get("action")
    if action not in MenuAction.values:
        raise VoiceError(166, field=f"{field}.action")
    if action == MenuAction.SUBMENU:
        submenu = raw.get("menu")
        if not isinstance(submenu, Mapping) or not submenu.get("options"):
            raise VoiceError(173, field=f"{field}.menu")
        return MenuOptionSpec(
            key=key, action=action, submenu=voice_menu_clean(definition=submenu, field=f"{field}.menu", depth=depth + 1)
        )
    if action == MenuAction.TRANSFER:
        prefix = _digits(raw.get("transfer_prefix"))
        if not prefix or len(prefix) > 4:
            raise VoiceError(174, field=f"{field}.transfer_prefix")
        number = _digits(raw.get("transfer_number"))
        if not number or not 4 <= len(number) <= 15:
            raise VoiceError(175, field=f"{field}.transfer_number")
        return MenuOptionSpec(key=key, action=action, transfer_prefix=prefix, transfer_number=number)
    return MenuOptionSpec(key=key, action=action)


def menu_key_clean(value: object, *, field: str = "key") -> str:
    if value is None or value == "":
        raise VoiceError(170, field=field)
    if isinstance(value, bool):
        raise VoiceError(171, field=field)
    if isinstance(value, int):
        if 0 <= value <= 9:
            return str(value)
        raise VoiceError(172, field=field)
    if not isinstance(value, str):
        raise VoiceError(171, field=field)
    key = value.strip()
    if key in MENU_KEYS:
        return key
    if key.lstrip("-").isdigit():
        raise VoiceError(172, field=field)
    raise VoiceError(171, field=field)


def _text_clean(value: object, *, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise VoiceError(104, field=field)
    if len(value) > MAX_TEXT_LENGTH:
        raise VoiceError(105, field=field, detail=f"The text may have at most {MAX_TEXT_LENGTH} characters.")
    return value.strip()


def _integer_clean(
    definition: Mapping[str, Any],
    name: str,
    default: int,
    bounds: tuple[int, int],
    *,
    codes: tuple[int, int, int],
    field: str,
) -> int:
    if name not in definition:
        return default
    return integer_clean(definition[name], bounds=bounds, codes=codes, field=f"{field}.{name}")


def integer_clean(value: object, *, bounds: tuple[int, int], codes: tuple[int, int, int], field: str) -> int:
    """An integer within `bounds`; codes are (sent empty, not an integer, out of range)."""
    empty, not_integer, out_of_range = codes
    if value is None or (isinstance(value, str) and not value.strip()):
        raise VoiceError(empty, field=field)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise VoiceError(not_integer, field=field)
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit():
            raise VoiceError(not_integer, field=field)
        value = int(text)
    low, high = bounds
    if not low <= value <= high:
        raise VoiceError(out_of_range, field=field, detail=f"{VoiceError(out_of_range).description}: {low}-{high}.")
    return value


def _digits(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return ""
    text = value.strip().removeprefix("+")
    return text if text.isdigit() else ""


@transaction.atomic
def voice_menu_create(*, account: Account, name: str, definition: object) -> VoiceMenu:
    """Validate a menu definition and save it as a tree of VoiceMenu nodes; returns the root."""
    spec = voice_menu_clean(definition=definition)
    return _menu_write(account=account, name=name, spec=spec, parent=None)


@transaction.atomic
def voice_menu_replace(*, menu: VoiceMenu, definition: object) -> VoiceMenu:
    """Replace a root menu's definition (the root keeps its id, so sends naming it keep working);
    its old sub-menus and options are deleted."""
    spec = voice_menu_clean(definition=definition)
    VoiceMenu.objects.filter(parent=menu).delete()
    menu.options.all().delete()
    _menu_fields_set(menu, spec)
    menu.save()
    _options_write(menu, spec)
    return menu


def _menu_fields_set(menu: VoiceMenu, spec: MenuSpec) -> None:
    menu.speech_type = spec.speech_type
    menu.text = spec.text
    menu.language = spec.language
    menu.gender = spec.gender
    menu.audio_url = spec.audio_url
    menu.speech_retries = spec.speech_retries
    menu.speech_timeout_seconds = spec.speech_timeout_seconds


def _menu_write(*, account: Account, name: str, spec: MenuSpec, parent: VoiceMenu | None) -> VoiceMenu:
    menu = VoiceMenu(account=account, name=name[:150], parent=parent)
    _menu_fields_set(menu, spec)
    menu.save()
    _options_write(menu, spec)
    return menu


def _options_write(menu: VoiceMenu, spec: MenuSpec) -> None:
    for option in spec.options:
        submenu = None
        if option.submenu is not None:
            submenu = _menu_write(
                account=menu.account, name=f"{menu.name} / {option.key}", spec=option.submenu, parent=menu
            )
        VoiceMenuOption.objects.create(
            menu=menu,
            key=option.key,
            action=option.action,
            submenu=submenu,
            transfer_prefix=option.transfer_prefix,
            transfer_number=option.transfer_number,
        )


# Sends: callers, retries, audio -------------------------------------------------------------------


def callers_clean(*, account: Account, callers: object, interactive: bool = False) -> dict[str, str]:
    """The spec's `callers` ({ISO country: number}) when every number is a caller id registered to
    the account for that country; else VoiceError 132 (162 for interactive voice). Numbers are
    compared as digits (a leading + is ignored)."""
    code = 162 if interactive else 132
    if callers is None:
        return {}
    if not isinstance(callers, Mapping):
        raise VoiceError(code, field="callers")
    wanted: dict[str, str] = {}
    for country, number in callers.items():
        digits = _digits(number)
        if not isinstance(country, str) or len(country) != 2 or not country.isalpha() or not digits:
            raise VoiceError(code, field=f"callers.{country}")
        wanted[country.upper()] = digits
    registered = set(
        CallerId.objects.filter(account=account, country_iso__in=list(wanted)).values_list("country_iso", "number")
    )
    for country, number in wanted.items():
        if (country, number) not in registered:
            raise VoiceError(code, field=f"callers.{country}", detail=f"{number} is not a caller id of this account.")
    return wanted


def call_retries_clean(*, value: object) -> int:
    """The spec's `retries` when it was sent: 0-5 (190 empty, 176 not an integer, 177 out of range)."""
    return integer_clean(value, bounds=CALL_RETRIES_RANGE, codes=(190, 176, 177), field="retries")


def audio_url_clean(*, url: object, interactive: bool = False, field: str = "audioUrl") -> str:
    """An http(s) URL of an MP3 or WAV file: 133 / 163 when it is not an http(s) URL, 134 / 164 when
    its extension names another format. Without an extension the format is unknown here and the URL
    is accepted (its Content-Type is checked when it is fetched)."""
    invalid, unsupported = (163, 164) if interactive else (133, 134)
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise VoiceError(invalid, field=field)
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise VoiceError(invalid, field=field) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise VoiceError(invalid, field=field)
    last = parts.path.rsplit("/", 1)[-1]
    if "." in last:
        extension = last.rsplit(".", 1)[1].lower()
        if extension not in AUDIO_EXTENSIONS:
            raise VoiceError(unsupported, field=field, detail=f".{extension} is not MP3 or WAV.")
    return url


# Keys ---------------------------------------------------------------------------------------------


def keypress_record(*, message: Any, menu: VoiceMenu | None, key: str, pressed_at: datetime | None = None) -> Keypress:
    """Record a key the callee of `message` (a messaging Message) pressed in answer to `menu`."""
    return Keypress.objects.create(
        account_id=message.account_id,
        sending_id=message.sending_id,
        message=message,
        menu=menu,
        key=key,
        recipient=message.recipient,
        menu_text=(menu.text or menu.audio_url) if menu else "",
        pressed_at=pressed_at or timezone.now(),
    )


def voice_opt_out(*, message: Any) -> None:
    """The callee pressed the opt-out key: put the number on the account's voice blacklist."""
    from contacts.models import BlacklistType
    from contacts.services import blacklist_add

    blacklist_add(
        account=message.account, type=BlacklistType.VOICE, recipient=message.recipient, sending=message.sending
    )
