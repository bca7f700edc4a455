"""Country content rules for marketing SMS at accept time: the France STOP footer, US public shorteners, the
unsubscribe option and the account's policy for it."""

import pytest

from compliance.content_rules import MISSING_UNSUBSCRIBE, content_policy_load, sms_marketing_content
from compliance.errors import ComplianceRefused
from compliance.models import ComplianceSettings, UnsubscribePolicy

pytestmark = pytest.mark.django_db


def policy(account, **settings):
    if settings:
        ComplianceSettings.objects.update_or_create(account=account, defaults={"holdout_key": "k", **settings})
    return content_policy_load(account_id=account.pk)


def apply(account, text, country, purpose="marketing", **settings):
    return sms_marketing_content(text=text, country=country, purpose=purpose, policy=policy(account, **settings))


def test_france_gets_the_stop_footer_appended_with_the_accounts_code(account):
    result = apply(account, "Soldes -50% ce week-end", "FR", stop_code="36180")

    assert result.text == "Soldes -50% ce week-end STOP au 36180"
    assert result.warnings == ()


def test_france_footer_is_not_appended_twice(account):
    text = "Soldes -50% ce week-end. stop au 36180"
    assert apply(account, text, "FR", stop_code="36180").text == text


def test_france_without_a_stop_code_is_refused_naming_the_setting(account):
    with pytest.raises(ComplianceRefused) as refused:
        apply(account, "Soldes -50%", "FR")

    assert refused.value.reason == "stop_code_missing"
    assert refused.value.field == "stop_code"
    assert "STOP au <code>" in refused.value.detail and "STOP code" in refused.value.detail


def test_france_without_a_stop_code_passes_when_the_text_carries_its_own_footer(account):
    assert apply(account, "Soldes -50% STOP au 36111", "FR").text == "Soldes -50% STOP au 36111"


def test_us_message_with_bit_ly_is_refused_naming_the_domain(account):
    with pytest.raises(ComplianceRefused) as refused:
        apply(account, "Big sale at https://bit.ly/3xYz today. Reply STOP to opt out", "US")

    assert refused.value.reason == "public_shortener"
    assert refused.value.field == "message"
    assert "bit.ly" in refused.value.detail


@pytest.mark.parametrize("text", ["See www.tinyurl.com/abc STOP", "Go to T.CO/x now STOP", "cutt.ly/a STOP"])
def test_every_listed_shortener_and_its_subdomains_are_refused_in_the_us(account, text):
    with pytest.raises(ComplianceRefused):
        apply(account, text, "US")


def test_our_own_short_links_and_lookalike_domains_pass_in_the_us(account, settings):
    settings.SHORT_URL_BASE = "https://go.acme.test"
    text = "Sale: https://go.acme.test/1AbCdEfG and https://bit.company.com/x STOP"
    assert apply(account, text, "US").text == text


def test_shorteners_pass_in_a_country_without_that_rule(account):
    text = "Oferta: https://bit.ly/x Responde BAJA para no recibir mas"
    assert apply(account, text, "ES").text == text


def test_default_settings_leave_a_country_without_rules_unchanged_and_warn_without_unsubscribe(account):
    result = apply(account, "Hola, ofertas esta semana", "ES")

    assert result.text == "Hola, ofertas esta semana"
    assert result.warnings == (MISSING_UNSUBSCRIBE,)


@pytest.mark.parametrize("text", ["Offer {UNSUB_URL}", "Offer, reply STOP", "Oferta: responde BAJA", "Offre ARRÊT"])
def test_an_unsubscribe_option_means_no_warning(account, text):
    assert apply(account, text, "ES").warnings == ()


def test_a_lower_case_stop_word_is_not_an_instruction(account):
    assert apply(account, "Don't stop now, the sale ends soon", "ES").warnings == (MISSING_UNSUBSCRIBE,)


def test_append_policy_appends_the_stop_instruction(account):
    result = apply(account, "Offer today", "GB", unsubscribe_policy=UnsubscribePolicy.APPEND)
    assert result.text == "Offer today Reply STOP to opt out."


def test_refuse_policy_refuses_a_message_without_unsubscribe_option(account):
    with pytest.raises(ComplianceRefused) as refused:
        apply(account, "Offer today", "GB", unsubscribe_policy=UnsubscribePolicy.REFUSE)
    assert (refused.value.reason, refused.value.field) == ("unsubscribe_missing", "message")


def test_transactional_messages_are_never_changed(account):
    assert apply(account, "Your code is 1234 https://bit.ly/x", "US", purpose="transactional").text == (
        "Your code is 1234 https://bit.ly/x"
    )
    assert apply(account, "Your code is 1234", "FR", purpose="transactional").text == "Your code is 1234"
