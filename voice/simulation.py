"""The simulator's callees pressing keys: the choices planned when the simulator took the call
(messaging.providers.simulator) walked through the message's menu, as Twilio's Gather answers
would be, and recorded with the same services (keypress_record, voice_opt_out).

Each planned choice is a number in [0, 1) that picks one of the node's options (sorted by key).
A sub-menu is entered, `repeat` stays in the node, any other option ends the walk (opt out
blacklists the number); the walk stops after the planned choices. Keys are pressed 3 seconds apart
from 2 seconds after the call was taken.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from messaging.models import Message
from voice.models import MenuAction, VoiceMenu
from voice.options import VoiceOptions
from voice.services import keypress_record, voice_opt_out


def simulated_keys_record(*, presses: list[tuple[str, datetime, list[float]]]) -> int:
    """Record the keys of simulated interactive calls: (message public id, accepted at, choices).
    Returns how many keys were recorded."""
    messages = {
        m.public_id: m
        for m in Message.objects.filter(public_id__in=[public_id for public_id, _at, _c in presses]).select_related(
            "account", "sending"
        )
    }
    recorded = 0
    for public_id, accepted_at, choices in presses:
        message = messages.get(public_id)
        if message is None:
            continue
        menu_id = VoiceOptions.from_json(message.options).menu_id
        menu = VoiceMenu.objects.filter(pk=menu_id, account_id=message.account_id).first() if menu_id else None
        pressed_at = accepted_at + timedelta(seconds=2)
        for choice in choices:
            if menu is None:
                break
            options = list(menu.options.select_related("submenu").order_by("key"))
            if not options:
                break
            option = options[min(len(options) - 1, int(choice * len(options)))]
            keypress_record(message=message, menu=menu, key=option.key, pressed_at=pressed_at)
            recorded += 1
            pressed_at += timedelta(seconds=3)
            if option.action == MenuAction.SUBMENU:
                menu = option.submenu
            elif option.action == MenuAction.OPT_OUT:
                voice_opt_out(message=message)
                break
            elif option.action != MenuAction.REPEAT:
                break
    return recorded
