"""Languages and voices, the voice price table, caller ids and audio URLs."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from voice.errors import VoiceError
from voice.languages import LANGUAGES, speaker_clean
from voice.models import AccountVoicePrice, CallerId, VoicePrice
from voice.pricing import SHIPPED_VOICE_PRICES, started_minutes, voice_price_table
from voice.services import audio_url_clean, callers_clean

SPEC_LANGUAGES = [
    "en_GB",
    "en_US",
    "es_ES",
    "es_US",
    "pt_PT",
    "pt_BR",
    "cmn_CN",
    "arb",
    "de_DE",
    "fr_FR",
    "it_IT",
    "hi_IN",
]


def test_the_languages_are_exactly_the_specs_list():
    assert list(LANGUAGES) == SPEC_LANGUAGES


@pytest.mark.parametrize("language", SPEC_LANGUAGES)
def test_every_language_has_a_female_polly_voice(language):
    assert speaker_clean(language=language, gender="F").twilio_voice.startswith("Polly.")


@pytest.mark.parametrize("language", ["cmn_CN", "arb", "hi_IN"])
def test_mandarin_arabic_and_hindi_are_female_only(language):
    with pytest.raises(VoiceError) as caught:
        speaker_clean(language=language, gender="M")
    assert caught.value.code == 161


def test_en_us_female_is_polly_joanna_speaking_en_us():
    speaker = speaker_clean(language="en_US", gender="F")
    assert (speaker.twilio_voice, speaker.say_language) == ("Polly.Joanna", "en-US")


@pytest.mark.parametrize(
    ("language", "gender", "interactive", "code"),
    [
        ("es-ES", "F", True, 160),
        ("es_ES", "f", True, 161),
        (None, "F", True, 160),
        ("es_ES", "X", False, 131),
        ("klingon", "M", False, 130),
    ],
)
def test_bad_language_or_gender_has_its_code(language, gender, interactive, code):
    with pytest.raises(VoiceError) as caught:
        speaker_clean(language=language, gender=gender, interactive=interactive)
    assert caught.value.code == code


@pytest.mark.parametrize(("seconds", "minutes"), [(0, 0), (1, 1), (60, 1), (61, 2), (3599, 60)])
def test_calls_are_charged_by_started_minute(seconds, minutes):
    assert started_minutes(seconds) == minutes


@pytest.mark.django_db
def test_the_shipped_table_prices_every_country_and_zz():
    assert VoicePrice.objects.count() == len(SHIPPED_VOICE_PRICES.read_text().splitlines()) - 1
    assert VoicePrice.objects.get(country_iso="ES").price_per_minute == Decimal("0.06750")
    assert VoicePrice.objects.filter(country_iso="ZZ").exists()


@pytest.mark.django_db
def test_an_account_price_overrides_the_platform_price_and_zz_prices_unknown_countries(account):
    AccountVoicePrice.objects.create(account=account, country_iso="ES", price_per_minute=Decimal("0.02"))
    table = voice_price_table(account=account)

    assert table.call_cost("ES", 61) == Decimal("0.04000")
    assert table.price_per_minute("FR") == Decimal("0.09000")
    assert table.price_per_minute(None) == Decimal("0.15000")
    assert table.hold("ES") == Decimal("0.02000")
    assert table.call_cost("ES", 0) == 0


@pytest.mark.django_db
def test_importing_voice_prices_is_all_or_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("country_iso,country_name,price_per_minute\nES,Spain,0.5\nXYZ,Nowhere,1\nFR,France,abc\n")
    with pytest.raises(CommandError) as caught:
        call_command("import_voice_prices", str(bad))
    assert "Line 3" in str(caught.value) and "Line 4" in str(caught.value)
    assert VoicePrice.objects.get(country_iso="ES").price_per_minute == Decimal("0.06750")

    good = tmp_path / "good.csv"
    good.write_text("country_iso,country_name,price_per_minute\nES,Spain,0.5\n")
    call_command("import_voice_prices", str(good), "--replace")
    assert list(VoicePrice.objects.values_list("country_iso", "price_per_minute")) == [
        ("ES", Decimal("0.50000")),
        ("ZZ", Decimal("0.15000")),
    ]


def test_importing_the_shipped_table_parses():
    from voice.pricing import voice_prices_parse

    assert len(voice_prices_parse(SHIPPED_VOICE_PRICES.read_text())) == 246


@pytest.mark.django_db
def test_callers_must_be_caller_ids_registered_to_the_account_for_that_country(account, other_user):
    CallerId.objects.create(account=account, country_iso="ES", number="34911222333")
    CallerId.objects.create(account=other_user.account, country_iso="PT", number="351211222333")

    assert callers_clean(account=account, callers={"ES": "+34911222333"}) == {"ES": "34911222333"}
    assert callers_clean(account=account, callers=None) == {}
    for callers, code in [
        ({"PT": "351211222333"}, 132),  # another account's
        ({"FR": "34911222333"}, 132),  # registered for another country
        ({"ES": "not a number"}, 132),
        (["34911222333"], 132),
    ]:
        with pytest.raises(VoiceError) as caught:
            callers_clean(account=account, callers=callers)
        assert caught.value.code == code
    with pytest.raises(VoiceError) as caught:
        callers_clean(account=account, callers={"PT": "351211222333"}, interactive=True)
    assert (caught.value.code, caught.value.field) == (162, "callers.PT")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://example.com/a.mp3", None),
        ("http://example.com/a.WAV", None),
        ("https://example.com/play?id=3", None),
        ("https://example.com/a.ogg", 134),
        ("ftp://example.com/a.mp3", 133),
        ("https:///a.mp3", 133),
        ("", 133),
        (42, 133),
    ],
)
def test_audio_urls_are_http_mp3_or_wav_as_far_as_the_url_tells(url, code):
    if code is None:
        assert audio_url_clean(url=url) == url
        return
    with pytest.raises(VoiceError) as caught:
        audio_url_clean(url=url)
    assert caught.value.code == code
