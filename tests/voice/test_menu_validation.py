"""voice_menu_clean: the one validation of interactive menus, with the spec's codes (165-182, 192-193)."""

import copy

import pytest

from voice.errors import VoiceError
from voice.models import MenuAction, VoiceMenu, VoiceMenuOption
from voice.selectors import voice_menu_definition
from voice.services import (
    call_retries_clean,
    voice_menu_clean,
    voice_menu_create,
    voice_menu_replace,
)

VALID = {
    "speech_type": "tts",
    "text": "Press 1 for offers, 2 to talk to us, 9 to stop these calls.",
    "language": "en_GB",
    "gender": "F",
    "speech_retries": 2,
    "speech_timeout_seconds": 6,
    "options": [
        {
            "key": "1",
            "action": "submenu",
            "menu": {
                "speech_type": "audio",
                "audio_url": "https://example.com/offers.mp3",
                "options": [{"key": "#", "action": "hangup"}, {"key": "*", "action": "repeat"}],
            },
        },
        {"key": 2, "action": "transfer", "transfer_prefix": "34", "transfer_number": "911222333"},
        {"key": "9", "action": "opt_out"},
    ],
}


def menu(**changes):
    definition = copy.deepcopy(VALID)
    definition.update(changes)
    return definition


def option(index, **changes):
    definition = copy.deepcopy(VALID)
    definition["options"][index].update(changes)
    return definition


def refused(definition) -> VoiceError:
    with pytest.raises(VoiceError) as caught:
        voice_menu_clean(definition=definition)
    return caught.value


def test_a_valid_two_level_menu_is_cleaned_into_typed_nodes():
    spec = voice_menu_clean(definition=VALID)

    assert (spec.language, spec.gender, spec.speech_retries, spec.speech_timeout_seconds) == ("en_GB", "F", 2, 6)
    assert [o.key for o in spec.options] == ["1", "2", "9"]
    assert spec.options[0].submenu.audio_url == "https://example.com/offers.mp3"
    assert spec.options[0].submenu.speech_retries == 1  # the default
    assert (spec.options[1].transfer_prefix, spec.options[1].transfer_number) == ("34", "911222333")


@pytest.mark.parametrize(
    ("definition", "code", "field"),
    [
        (None, 169, "menu"),
        ({}, 169, "menu"),
        (menu(options=[]), 169, "menu.options"),
        (menu(speech_type=""), 168, "menu.speech_type"),
        (menu(speech_type=None), 168, "menu.speech_type"),
        (menu(speech_type="video"), 165, "menu.speech_type"),
        (menu(text="  "), 104, "menu.text"),
        (menu(text="x" * 501), 105, "menu.text"),
        (menu(language="xx_XX"), 160, "menu.language"),
        (menu(gender="X"), 161, "menu.gender"),
        (menu(language="hi_IN", gender="M"), 161, "menu.gender"),
        (menu(speech_type="audio", audio_url="ftp://example.com/a.mp3"), 163, "menu.audio_url"),
        (menu(speech_type="audio", audio_url="not a url"), 163, "menu.audio_url"),
        (menu(speech_type="audio", audio_url="https://example.com/a.ogg"), 164, "menu.audio_url"),
        (menu(speech_retries=""), 192, "menu.speech_retries"),
        (menu(speech_retries=None), 192, "menu.speech_retries"),
        (menu(speech_retries="two"), 179, "menu.speech_retries"),
        (menu(speech_retries=1.5), 179, "menu.speech_retries"),
        (menu(speech_retries=True), 179, "menu.speech_retries"),
        (menu(speech_retries=6), 180, "menu.speech_retries"),
        (menu(speech_retries=-1), 180, "menu.speech_retries"),
        (menu(speech_timeout_seconds=""), 193, "menu.speech_timeout_seconds"),
        (menu(speech_timeout_seconds="5s"), 181, "menu.speech_timeout_seconds"),
        (menu(speech_timeout_seconds=0), 182, "menu.speech_timeout_seconds"),
        (menu(speech_timeout_seconds=31), 182, "menu.speech_timeout_seconds"),
        (option(2, key=""), 170, "menu.options.2.key"),
        (option(2, key=None), 170, "menu.options.2.key"),
        (option(2, key="a"), 171, "menu.options.2.key"),
        (option(2, key="1.5"), 171, "menu.options.2.key"),
        (option(2, key="10"), 172, "menu.options.2.key"),
        (option(2, key=12), 172, "menu.options.2.key"),
        (option(2, key=-1), 172, "menu.options.2.key"),
        (option(2, key="2"), 172, "menu.options.2.key"),  # used twice
        (option(2, action="fax"), 166, "menu.options.2.action"),
        (option(2, action=""), 166, "menu.options.2.action"),
        (option(0, menu={}), 173, "menu.options.0.menu"),
        (option(0, menu={"speech_type": "tts", "options": []}), 173, "menu.options.0.menu"),
        (option(1, transfer_prefix=""), 174, "menu.options.1.transfer_prefix"),
        (option(1, transfer_prefix="ab"), 174, "menu.options.1.transfer_prefix"),
        (option(1, transfer_number=""), 175, "menu.options.1.transfer_number"),
        (option(1, transfer_number="12"), 175, "menu.options.1.transfer_number"),
    ],
)
def test_each_bad_menu_value_is_refused_with_the_specs_code_and_field(definition, code, field):
    error = refused(definition)
    assert (error.code, error.field) == (code, field)


def test_a_bad_value_deep_in_a_sub_menu_names_its_path():
    definition = copy.deepcopy(VALID)
    definition["options"][0]["menu"]["options"][0]["key"] = "x"
    assert (refused(definition).code, refused(definition).field) == (171, "menu.options.0.menu.options.0.key")


def test_menus_nest_at_most_five_levels():
    node = {"speech_type": "tts", "text": "Hi", "language": "en_US", "gender": "M", "options": []}
    leaf = {**node, "options": [{"key": "1", "action": "hangup"}]}
    definition = leaf
    for _ in range(5):
        definition = {**node, "options": [{"key": "1", "action": "submenu", "menu": definition}]}
    assert refused(definition).code == 169


@pytest.mark.parametrize(("value", "code"), [("", 190), (None, 190), ("x", 176), (2.5, 176), (6, 177), (-1, 177)])
def test_call_retries_are_an_integer_from_0_to_5(value, code):
    with pytest.raises(VoiceError) as caught:
        call_retries_clean(value=value)
    assert caught.value.code == code


def test_call_retries_accept_numbers_and_digit_strings():
    assert call_retries_clean(value=0) == 0
    assert call_retries_clean(value="5") == 5


def test_the_error_carries_the_specs_description():
    error = refused(menu(speech_type="video"))
    assert error.description == "Invalid voice interactive speech type"


@pytest.mark.django_db
def test_a_created_menu_is_a_tree_that_reads_back_as_its_definition(account):
    root = voice_menu_create(account=account, name="Offers", definition=VALID)

    assert VoiceMenu.objects.filter(account=account).count() == 2
    submenu = VoiceMenuOption.objects.get(menu=root, key="1").submenu
    assert submenu.parent == root and submenu.name == "Offers / 1"
    definition = voice_menu_definition(menu=root)
    assert voice_menu_clean(definition=definition) == voice_menu_clean(definition=VALID)


@pytest.mark.django_db
def test_a_refused_menu_writes_nothing(account):
    with pytest.raises(VoiceError):
        voice_menu_create(account=account, name="Broken", definition=option(1, transfer_number=""))
    assert not VoiceMenu.objects.exists()


@pytest.mark.django_db
def test_replacing_a_menu_keeps_its_id_and_drops_the_old_sub_menus(account):
    root = voice_menu_create(account=account, name="Offers", definition=VALID)
    replaced = voice_menu_replace(menu=root, definition=menu(options=[{"key": "0", "action": "hangup"}]))

    assert replaced.pk == root.pk
    assert VoiceMenu.objects.count() == 1
    assert list(root.options.values_list("key", "action")) == [("0", MenuAction.HANGUP)]
