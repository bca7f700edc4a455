"""Voice reads."""

from __future__ import annotations

from typing import Any

from voice.models import MenuAction, SpeechType, VoiceMenu


def voice_menu_definition(*, menu: VoiceMenu) -> dict[str, Any]:
    """A saved menu as the definition `voice.services.voice_menu_clean` takes (sub-menus inline)."""
    definition: dict[str, Any] = {
        "speech_type": menu.speech_type,
        "speech_retries": menu.speech_retries,
        "speech_timeout_seconds": menu.speech_timeout_seconds,
        "options": [],
    }
    if menu.speech_type == SpeechType.TTS:
        definition.update(text=menu.text, language=menu.language, gender=menu.gender)
    else:
        definition["audio_url"] = menu.audio_url
    for option in menu.options.select_related("submenu").order_by("key"):
        item: dict[str, Any] = {"key": option.key, "action": option.action}
        if option.action == MenuAction.SUBMENU:
            item["menu"] = voice_menu_definition(menu=option.submenu) if option.submenu else {}
        elif option.action == MenuAction.TRANSFER:
            item.update(transfer_prefix=option.transfer_prefix, transfer_number=option.transfer_number)
        definition["options"].append(item)
    return definition
