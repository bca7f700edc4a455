"""Opt-out keywords, inbound through Twilio's real webhook format: form-encoded bodies captured from
Twilio's documentation (tests/fakes/fixtures/twilio/), signed with X-Twilio-Signature by the fake's own
signing code, posted to /webhooks/twilio/inbound and processed by the webhook task."""

from urllib.parse import urlencode

import pytest

from compliance.consent import consent_history, consent_of, consent_set
from compliance.keywords import KEYWORDS, KeywordAction, inbound_keywords_handle, keyword_match
from compliance.models import ComplianceSettings, ConsentEvent
from contacts.models import BlacklistEntry, Contact
from messaging.models import Event, Message, ProviderRoute
from messaging.webhooks import inbound_webhooks_process
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, inbound_fixture
from tests.messaging.provider_contract import (
    WebhookRequest,
    fresh_webhook_state,  # noqa: F401  (autouse)
    message_create,
    post,
)

pytestmark = pytest.mark.django_db

INBOUND_URL = "http://localhost:8000/webhooks/twilio/inbound"
OUR_NUMBER = "+15005550006"
PERSON = "+34666555444"
_sids = iter(range(1, 10_000))


@pytest.fixture
def route(account):
    return ProviderRoute.objects.create(
        account=account,
        channel="sms",
        provider="twilio",
        settings={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
    )


@pytest.fixture
def ana(account, route) -> Contact:
    contact = Contact.objects.create(account=account, phone="34666555444", name="Ana")
    consent_set(account=account, contact_ids=[contact.pk], channel="sms", status="opted_in", source="import")
    return contact


def settings_of(account, **fields) -> ComplianceSettings:
    return ComplianceSettings.objects.create(account=account, holdout_key="k", **fields)


def reply_post(body: str, *, fixture: str = "inbound_sms", sid: str | None = None, from_: str = PERSON) -> int:
    """Post a signed Twilio inbound webhook (as Twilio sends it); returns the HTTP status."""
    sid = sid or f"SM{next(_sids):032x}"
    url, params, headers = inbound_fixture(fixture, url=INBOUND_URL, sid=sid, Body=body, From=from_, To=OUR_NUMBER)
    request = WebhookRequest(
        url.removeprefix("http://localhost:8000"), urlencode(params).encode(), "application/x-www-form-urlencoded",
        headers,
    )  # fmt: skip
    return post(request).status_code


def reply(body: str, **kwargs) -> int:
    """Post a signed Twilio inbound webhook and run the webhook task; returns the HTTP status."""
    status = reply_post(body, **kwargs)
    inbound_webhooks_process()
    return status


def sms_status(contact: Contact) -> str:
    return consent_of(contact=contact)["sms"].status


def blacklisted(account, number: str = "34666555444") -> BlacklistEntry | None:
    return BlacklistEntry.objects.filter(account=account, type="sms", recipient=number).first()


def replies_to(number: str = "34666555444") -> list[Message]:
    return list(Message.objects.filter(recipient=number, sender="15005550006").order_by("id"))


# ---------------------------------------------------------------------------------------------
# Matching


OPT_OUT_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET", "ARRÊT", "BAJA", "ALTO",
                 "STOPP", "PARAR", "SAIR", "DESISCRIVI"]  # fmt: skip


def test_the_keyword_lists_are_the_issues():
    assert KEYWORDS[KeywordAction.OPT_OUT] == {word.replace("Ê", "E") for word in OPT_OUT_WORDS}
    assert KEYWORDS[KeywordAction.OPT_IN] == {"START", "UNSTOP", "ALTA"}
    assert KEYWORDS[KeywordAction.HELP] == {"HELP", "AIDE", "AYUDA"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Stop please", (KeywordAction.OPT_OUT, "STOP")),
        ("  stop  ", (KeywordAction.OPT_OUT, "STOP")),
        ("STOP.", (KeywordAction.OPT_OUT, "STOP")),
        ("Arrêt", (KeywordAction.OPT_OUT, "ARRET")),
        ("arrêt!", (KeywordAction.OPT_OUT, "ARRET")),
        ("¡Baja!", (KeywordAction.OPT_OUT, "BAJA")),
        ("Désiscrivi", (KeywordAction.OPT_OUT, "DESISCRIVI")),
        ("unstop", (KeywordAction.OPT_IN, "UNSTOP")),
        ("Ayuda por favor", (KeywordAction.HELP, "AYUDA")),
        ("Stopwatch", None),
        ("don't stop", None),
        ("Stop-watch", None),
        ("please STOP", None),
        ("", None),
        ("   ", None),
    ],
)
def test_whole_message_or_first_word_case_and_accents_ignored(text, expected):
    assert keyword_match(text) == expected


# ---------------------------------------------------------------------------------------------
# Opt-out, through Twilio's webhook


@pytest.mark.parametrize("word", OPT_OUT_WORDS)
@pytest.mark.parametrize("variant", [str.upper, str.lower, str.capitalize, lambda w: f"{w.lower()} please"])
def test_every_opt_out_keyword_blacklists_and_opts_out_the_contact(account, ana, word, variant):
    text = variant(word)
    message = message_create(account, provider="twilio", provider_message_id="SM55", recipient="34666555444")

    assert reply(text) == 200

    entry = blacklisted(account)
    assert entry is not None and not entry.is_definitive
    assert sms_status(ana) == "opted_out"
    [event, _imported] = consent_history(contact=ana)
    assert (event.status, event.source) == ("opted_out", "keyword")
    assert event.note == f"SMS reply {text!r}"
    unsubscribed = Event.objects.get(message=message)
    assert unsubscribed.type == "unsubscribed"
    assert unsubscribed.extra["keyword"] == word.replace("Ê", "E")
    message.sending.refresh_from_db()
    assert message.sending.unsubscribed == 1


@pytest.mark.parametrize("text", ["Stopwatch", "don't stop", "Hello", "Please stop", "STOPPED"])
def test_other_replies_change_nothing(account, ana, text):
    message_create(account, provider="twilio", provider_message_id="SM55", recipient="34666555444")
    assert reply(text) == 200
    assert blacklisted(account) is None
    assert sms_status(ana) == "opted_in"
    assert not Event.objects.exists()
    assert ConsentEvent.objects.count() == 1  # the import's


def test_advanced_opt_out_and_mms_bodies_are_read_too(account, ana):
    assert reply("STOP", fixture="inbound_sms_advanced_opt_out") == 200
    assert sms_status(ana) == "opted_out"
    assert reply("start", fixture="inbound_sms_advanced_opt_out") == 200
    assert sms_status(ana) == "opted_in"
    assert reply("Stop sending me these", fixture="inbound_mms") == 200
    assert sms_status(ana) == "opted_out"


def test_a_stop_from_a_number_without_contact_still_blacklists_it(account, route):
    message_create(account, provider="twilio", provider_message_id="SM1", recipient="34611000111")
    reply("STOP", from_="+34611000111")
    assert blacklisted(account, "34611000111") is not None
    assert not ConsentEvent.objects.exists()


def test_a_stop_that_could_belong_to_several_accounts_and_names_no_message_changes_nothing(account, other_user):
    # Two accounts on routes that name no AccountSid, and no message to the number: whose list is it?
    for owner in (account, other_user.account):
        ProviderRoute.objects.create(
            account=owner, channel="sms", provider="twilio", settings={"auth_token": AUTH_TOKEN}
        )
        Contact.objects.create(account=owner, phone="34666555444")
    reply("STOP")
    assert not BlacklistEntry.objects.exists() and not ConsentEvent.objects.exists()


def test_with_one_possible_account_a_stop_acts_even_without_a_message_to_the_number(account, ana):
    reply("STOP")
    assert sms_status(ana) == "opted_out" and blacklisted(account) is not None
    assert not Event.objects.exists()  # no message of ours to hang an unsubscribed event on


def test_the_account_is_the_one_whose_route_and_messages_the_number_belongs_to(account, other_user, ana):
    theirs = Contact.objects.create(account=other_user.account, phone="34666555444")
    ProviderRoute.objects.create(
        account=other_user.account, channel="sms", provider="twilio",
        settings={"account_sid": "AC" + "9" * 32, "auth_token": "other-token"},
    )  # fmt: skip
    message_create(other_user.account, provider="twilio", provider_message_id="SM9", recipient="34666555444")
    reply("STOP")  # on our AccountSid: ours, although the other account messaged the number last
    assert sms_status(ana) == "opted_out"
    assert blacklisted(account) is not None
    assert consent_of(contact=theirs)["sms"].status == "unknown"
    assert not BlacklistEntry.objects.filter(account=other_user.account).exists()


def test_the_same_webhook_delivered_twice_acts_once(account, ana):
    settings_of(account, keyword_confirmation=True, stop_confirmation_text="You are unsubscribed.")
    message_create(account, provider="twilio", provider_message_id="SM55", recipient="34666555444")
    reply("STOP", sid="SM" + "a" * 32)
    reply("STOP", sid="SM" + "a" * 32)
    assert Event.objects.filter(type="unsubscribed").count() == 1
    assert ConsentEvent.objects.filter(source="keyword").count() == 1
    assert [m.body for m in replies_to()] == ["You are unsubscribed."]


# ---------------------------------------------------------------------------------------------
# Confirmation replies


def test_stop_confirmation_is_sent_once_swapping_sender_and_recipient(account, ana):
    settings_of(account, keyword_confirmation=True, stop_confirmation_text="ACME: unsubscribed. START to return.")
    reply("STOP")
    reply("stop")  # already opted out and blacklisted: no second confirmation
    [confirmation] = replies_to()
    assert (confirmation.sender, confirmation.recipient, confirmation.channel) == ("15005550006", "34666555444", "sms")
    assert confirmation.body == "ACME: unsubscribed. START to return."
    assert confirmation.status == "queued" and confirmation.contact_id == ana.pk
    assert blacklisted(account) is not None


def test_no_confirmation_without_the_setting(account, ana):
    settings_of(account, keyword_confirmation=False, stop_confirmation_text="Unsubscribed.")
    reply("STOP")
    assert replies_to() == []
    assert sms_status(ana) == "opted_out"


def test_a_confirmation_the_balance_cannot_pay_is_skipped_and_the_opt_out_still_happens(account, ana):
    settings_of(account, keyword_confirmation=True, stop_confirmation_text="Unsubscribed.")
    account.__class__.objects.filter(pk=account.pk).update(balance=0)
    reply("STOP")
    assert replies_to() == []
    assert sms_status(ana) == "opted_out" and blacklisted(account) is not None


# ---------------------------------------------------------------------------------------------
# START after STOP


@pytest.mark.parametrize("word", ["START", "unstop", "Alta"])
def test_start_after_stop_opts_back_in_and_leaves_the_blacklist(account, ana, word):
    settings_of(account, keyword_confirmation=True, stop_confirmation_text="Bye.", start_confirmation_text="Welcome.")
    reply("STOP")
    assert blacklisted(account) is not None
    reply(word)
    assert blacklisted(account) is None
    assert sms_status(ana) == "opted_in"
    assert [(e.status, e.source) for e in consent_history(contact=ana)][:2] == [
        ("opted_in", "keyword"), ("opted_out", "keyword"),
    ]  # fmt: skip
    assert [m.body for m in replies_to()] == ["Bye.", "Welcome."]
    reply(word)  # nothing left to change: no second welcome
    assert [m.body for m in replies_to()] == ["Bye.", "Welcome."]


def test_start_does_not_lift_a_definitive_blacklist_entry(account, ana):
    BlacklistEntry.objects.create(account=account, type="sms", recipient="34666555444", is_definitive=True)
    reply("START")
    assert blacklisted(account).is_definitive


# ---------------------------------------------------------------------------------------------
# HELP


@pytest.mark.parametrize("word", ["HELP", "aide", "Ayuda"])
def test_help_answers_the_accounts_help_text(account, ana, word):
    settings_of(account, help_text="ACME offers: help@acme.test. STOP to unsubscribe.")
    reply(word)
    [answer] = replies_to()
    assert answer.body == "ACME offers: help@acme.test. STOP to unsubscribe."
    assert sms_status(ana) == "opted_in" and blacklisted(account) is None


def test_help_without_help_text_sends_nothing(account, ana):
    settings_of(account, help_text="")
    reply("HELP")
    assert replies_to() == []
    reply("HELP")  # and without any settings row
    ComplianceSettings.objects.all().delete()
    reply("HELP")
    assert replies_to() == []


def test_help_is_answered_once_per_inbound_message(account, ana, django_capture_on_commit_callbacks):
    settings_of(account, help_text="Call 900 000 000.")
    for sid in ("SM" + "b" * 32, "SM" + "b" * 32, None):  # then Twilio redelivers it; then a new question
        with django_capture_on_commit_callbacks(execute=True):
            reply("HELP", sid=sid)
    assert [m.body for m in replies_to()] == ["Call 900 000 000.", "Call 900 000 000."]


# ---------------------------------------------------------------------------------------------
# Channels plug in


def test_inbound_messages_of_a_channel_without_keyword_support_are_left_alone(account, ana):
    from django.utils import timezone

    from messaging.providers.base import InboundMessage

    whatsapp = InboundMessage(
        channel="whatsapp", sender="34666555444", recipient="15005550006", text="STOP", provider_message_id="WA1",
        received_at=timezone.now(), provider="twilio", provider_account=ACCOUNT_SID,
    )  # fmt: skip
    assert inbound_keywords_handle(messages=[whatsapp]) == []
    assert sms_status(ana) == "opted_in"


def test_a_help_delivered_twice_within_one_batch_is_answered_once(account, ana):
    settings_of(account, help_text="Call 900 000 000.")
    reply_post("HELP", sid="SM" + "c" * 32)
    reply_post("HELP", sid="SM" + "c" * 32)
    assert inbound_webhooks_process() == 2
    assert [m.body for m in replies_to()] == ["Call 900 000 000."]


def test_a_batch_mixing_status_callbacks_and_keyword_replies_records_both(account, ana):
    from tests.messaging.test_twilio import STATUS_URL, form_request, status_params

    message = message_create(account, provider="twilio", provider_message_id="SM77", recipient="34666555444")
    assert post(form_request(STATUS_URL, status_params("SM77", "delivered"))).status_code == 200
    reply_post("Stop")
    assert inbound_webhooks_process() == 2
    assert sorted(Event.objects.filter(message=message).values_list("type", flat=True)) == ["delivered", "unsubscribed"]
    assert sms_status(ana) == "opted_out"
