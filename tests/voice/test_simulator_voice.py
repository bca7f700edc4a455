"""The simulator's calls: answered by a person / a machine / nobody / busy at configurable rates,
deterministic per seed and message, with durations, and keys pressed in interactive menus, all
reported through the webhook path like a real provider's."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import BlacklistEntry
from messaging import dispatch
from messaging.dispatch import dispatch_due
from messaging.models import Event, Message, MessageStatus
from messaging.providers.simulator import planned_events, simulator_reports_emit
from tests.messaging.pipeline_factories import make_messages, make_sending, route
from voice.models import Keypress
from voice.options import VoiceOptions
from voice.services import voice_menu_create


def call_outcome(public_id, *, settings=None, channel="text2speech", amd=False):
    [event] = planned_events(
        settings or {}, public_id=public_id, channel=channel, options=VoiceOptions(amd=amd).to_json()
    )
    return event


def test_a_calls_outcome_is_a_pure_function_of_seed_and_message():
    first = [call_outcome(f"p{n}", settings={"seed": "a"}) for n in range(50)]
    assert first == [call_outcome(f"p{n}", settings={"seed": "a"}) for n in range(50)]
    assert first != [call_outcome(f"p{n}", settings={"seed": "b"}) for n in range(50)]


def test_default_rates_answer_most_calls_and_leave_the_rest_busy_or_unanswered():
    outcomes = Counter(
        (e["type"], e["extra"].get("answered_by", e["extra"]["call_status"]))
        for e in (call_outcome(f"p{n}", amd=True) for n in range(2000))
    )
    assert 0.55 < outcomes["delivered", "human"] / 2000 < 0.65
    assert 0.12 < outcomes["undelivered", "machine_start"] / 2000 < 0.18
    assert 0.07 < outcomes["undelivered", "busy"] / 2000 < 0.13
    assert 0.12 < outcomes["undelivered", "no-answer"] / 2000 < 0.18


def test_answered_calls_last_up_to_the_longest_call_and_unanswered_ones_last_nothing():
    events = [call_outcome(f"p{n}", settings={"max_call_seconds": 30}) for n in range(300)]
    delivered = [e["extra"]["duration_seconds"] for e in events if e["type"] == "delivered"]
    assert delivered and all(1 <= d <= 30 for d in delivered)
    assert all(e["extra"]["duration_seconds"] == 0 for e in events if e["type"] == "undelivered")


def test_a_machine_answer_is_not_answered_with_amd_and_reaches_voicemail_without():
    settings = {"answered_rate": 0, "machine_rate": 1}
    assert call_outcome("p1", settings=settings, amd=True)["type"] == "undelivered"
    without = call_outcome("p1", settings=settings, amd=False)
    assert without["type"] == "delivered" and without["extra"]["duration_seconds"] > 0


def test_only_interactive_calls_answered_by_a_person_press_keys():
    settings = {"answered_rate": 1, "keys_rate": 1}
    assert "presses" in call_outcome("p1", settings=settings, channel="voice-interactive")
    assert "presses" not in call_outcome("p1", settings=settings, channel="text2speech")


MENU = {
    "speech_type": "tts",
    "text": "Press 1 for offers or 2 to stop.",
    "language": "en_US",
    "gender": "F",
    "options": [
        {
            "key": "1",
            "action": "submenu",
            "menu": {
                "speech_type": "tts",
                "text": "Press 3 to hang up.",
                "language": "en_US",
                "gender": "M",
                "options": [{"key": "3", "action": "hangup"}],
            },
        },
        {"key": "2", "action": "opt_out"},
    ],
}


@pytest.mark.django_db
def test_simulated_interactive_calls_report_durations_and_walk_the_menu(account):
    route("voice-interactive", "simulator", {"seed": "demo", "answered_rate": 0.7, "keys_rate": 1})
    menu = voice_menu_create(account=account, name="Offers", definition=MENU)
    sending = make_sending(account, channel="voice-interactive")
    make_messages(sending, 40, options=VoiceOptions(menu_id=menu.pk).to_json())
    dispatch._provider_cache.clear()
    dispatch_due()

    simulator_reports_emit(now=timezone.now() + timedelta(seconds=10))

    statuses = Counter(Message.objects.filter(sending=sending).values_list("status", flat=True))
    assert statuses[MessageStatus.DELIVERED] + statuses[MessageStatus.UNDELIVERED] == 40
    assert statuses[MessageStatus.DELIVERED] > 0
    delivered = Event.objects.filter(sending=sending, type="delivered")
    assert all(event.extra["duration_seconds"] > 0 for event in delivered)
    keys_by_message: dict[int, list[str]] = {}
    for message_id, key in (
        Keypress.objects.filter(sending=sending).order_by("pressed_at", "id").values_list("message_id", "key")
    ):
        keys_by_message.setdefault(message_id, []).append(key)
    assert keys_by_message
    assert set(map(tuple, keys_by_message.values())) <= {("1", "3"), ("2",)}
    opted_out = {m for m, keys in keys_by_message.items() if keys == ["2"]}
    assert BlacklistEntry.objects.filter(account=account, type="voice").count() == len(opted_out)
    answered = set(Message.objects.filter(sending=sending, status=MessageStatus.DELIVERED).values_list("pk", flat=True))
    assert set(keys_by_message) <= answered
