"""POST /api/rest/sms: every parameter, every error code, the 202 / 207 / 400 shapes, contacts,
prices and the balance."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import AccountSmsPrice, Campaign, Sending, SmsPrice
from contacts.models import Contact
from messaging.models import Message, MessageStatus
from tests.campaigns.conftest import (
    ES_PRICE,
    SMS_SAMPLE_REQUEST,
    blacklist,
    contact,
    error_of,
    nothing_written,
    post_sms,
)
from tracking.links import unsubscribe_token_read

pytestmark = pytest.mark.django_db


def sms(account, **filters) -> Message:
    return Message.objects.get(account=account, **filters)


# ---------------------------------------------------------------------------------------------
# The spec's response shapes


def test_spec_sample_is_accepted_with_the_202_shape(api_client, account):
    response = post_sms(api_client, **SMS_SAMPLE_REQUEST)

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"campaignId", "sendingId", "result"}
    assert body["campaignId"] == 0  # no campaignName
    assert body["sendingId"] == Sending.objects.get(account=account).pk
    [result] = body["result"]
    assert result == {
        "accepted": True,
        "to": "34666555444",
        "id": result["id"],
        "parts": 1,
        "scheduledAt": None,
        "expiresAt": None,
    }
    message = sms(account, public_id=result["id"])
    assert (message.sender, message.recipient, message.body) == ("TEST", "34666555444", "SMS text message")
    assert (message.status, message.encoding, message.parts, message.channel) == ("queued", "gsm", 1, "sms")


def test_some_invalid_recipients_answer_207_with_a_result_per_recipient(api_client, account):
    response = post_sms(api_client, to=["34666555444", "34"], **{"from": "TEST", "message": "SMS text message"})

    assert response.status_code == 207
    accepted, refused = response.json()["result"]
    assert accepted["accepted"] is True and accepted["to"] == "34666555444"
    assert refused == {"accepted": False, "to": "34", "error": {"code": 102, "description": "No valid recipients"}}
    assert Message.objects.filter(account=account).count() == 1


def test_no_valid_recipient_answers_400_with_the_first_error_and_writes_nothing(api_client, account):
    response = post_sms(api_client, to=["34", "abc"], **{"from": "TEST", "message": "Hi"})

    assert response.status_code == 400
    assert response.json() == {"error": {"code": 102, "description": "No valid recipients"}}
    assert nothing_written(account)
    assert not Contact.objects.filter(account=account).exists()


@pytest.mark.parametrize("to", [None, [], "not-a-list-of-numbers", [{"phone": "34666555444"}], [True]])
def test_missing_or_unusable_to_is_102(api_client, account, to):
    body = {"from": "TEST", "message": "Hi"}
    if to is not None:
        body["to"] = to
    assert error_of(post_sms(api_client, **body)) == (400, 102)
    assert nothing_written(account)


def test_numbers_are_normalised_and_the_accepted_result_shows_the_normalised_number(api_client, account):
    response = post_sms(
        api_client, to=["+34 666 555 444", "0034666555333", 34666555222], **{"from": "T", "message": "x"}
    )

    assert response.status_code == 202
    assert [r["to"] for r in response.json()["result"]] == ["34666555444", "34666555333", "34666555222"]


def test_invalid_json_is_125(api_client, account):
    response = api_client.post("/api/rest/sms", "{not json", content_type="application/json")
    assert error_of(response) == (400, 125)
    response = api_client.post("/api/rest/sms", "[1, 2]", content_type="application/json")
    assert error_of(response) == (400, 125)
    assert nothing_written(account)


# ---------------------------------------------------------------------------------------------
# message, from, encoding, parts


@pytest.mark.parametrize("message", [None, "", "   ", 12])
def test_missing_message_is_104(api_client, account, message):
    body = {"to": ["34666555444"], "from": "TEST"}
    if message is not None:
        body["message"] = message
    assert error_of(post_sms(api_client, **body)) == (400, 104)
    assert nothing_written(account)


@pytest.mark.parametrize("sender", [None, "", "  "])
def test_missing_sender_is_106(api_client, account, sender):
    body = {"to": ["34666555444"], "message": "Hi"}
    if sender is not None:
        body["from"] = sender
    assert error_of(post_sms(api_client, **body)) == (400, 106)


@pytest.mark.parametrize("sender", ["1234567890123456", "ABCDEFGHIJKL", "+1234567890123456"])
def test_sender_longer_than_15_digits_or_11_characters_is_107(api_client, account, sender):
    assert error_of(post_sms(api_client, to=["34666555444"], message="Hi", **{"from": sender})) == (400, 107)
    assert nothing_written(account)


@pytest.mark.parametrize("sender", ["123456789012345", "ABCDEFGHIJK", "My Shop", "34666555444"])
def test_senders_of_15_digits_or_11_characters_are_accepted(api_client, account, sender):
    response = post_sms(api_client, to=["34666555444"], message="Hi", **{"from": sender})
    assert response.status_code == 202
    assert sms(account).sender == sender


def test_sender_with_other_characters_is_422(api_client, account):
    assert error_of(post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "Shop<1>"})) == (422, 422)


@pytest.mark.parametrize("encoding", ["utf8", "ascii", 7])
def test_unknown_encoding_is_113(api_client, account, encoding):
    response = post_sms(api_client, to=["34666555444"], message="Hi", encoding=encoding, **{"from": "T"})
    assert error_of(response) == (400, 113)


@pytest.mark.parametrize("encoding", ["gsm", "gsm-pt", "utf-16"])
def test_each_encoding_is_stored_on_the_message(api_client, account, encoding):
    assert (
        post_sms(api_client, to=["34666555444"], message="Olé", encoding=encoding, **{"from": "T"}).status_code == 202
    )
    assert sms(account).encoding == encoding


def test_gsm_message_with_characters_outside_gsm_is_refused_113_naming_them(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="Hi 😀", **{"from": "T"})
    assert error_of(response) == (400, 113)
    assert "😀" in response.json()["error"]["description"]
    assert nothing_written(account)


def test_utf16_counts_70_characters_per_message(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="😀" * 35, encoding="utf-16", **{"from": "T"})
    assert response.json()["result"][0]["parts"] == 1
    response = post_sms(api_client, to=["34666555444"], message="x" * 71, encoding="utf-16", parts=2, **{"from": "T"})
    assert response.json()["result"][0]["parts"] == 2


def test_message_longer_than_one_part_without_parts_is_105(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="x" * 161, **{"from": "T"})
    assert response.json() == {"error": {"code": 105, "description": "Text message too long"}}
    assert response.status_code == 400
    assert nothing_written(account)


def test_160_gsm_characters_fit_one_part_and_extended_ones_count_double(api_client, account):
    assert post_sms(api_client, to=["34666555444"], message="x" * 160, **{"from": "T"}).status_code == 202
    # 80 "€" are 160 septets: one part; 81 need two.
    assert error_of(post_sms(api_client, to=["34666555443"], message="€" * 81, **{"from": "T"})) == (400, 105)


def test_parts_allows_concatenated_messages_of_153_characters_per_part(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="x" * 307, parts=3, **{"from": "T"})
    assert response.status_code == 202
    assert response.json()["result"][0]["parts"] == 3  # 153 + 153 + 1
    assert error_of(post_sms(api_client, to=["34666555444"], message="x" * 307, parts=2, **{"from": "T"})) == (
        400,
        105,
    )


def test_parts_uses_only_the_parts_needed(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="short", parts=15, **{"from": "T"})
    assert response.json()["result"][0]["parts"] == 1


@pytest.mark.parametrize("parts", [0, 16, -1, "x", True, 2.5])
def test_parts_outside_1_to_15_is_110(api_client, account, parts):
    assert error_of(post_sms(api_client, to=["34666555444"], message="Hi", parts=parts, **{"from": "T"})) == (
        400,
        110,
    )


def test_split_parts_and_flash_are_stored_on_the_message_and_sending(api_client, account):
    response = post_sms(
        api_client, to=["34666555444"], message="x" * 200, parts=2, splitParts=True, flash=True, **{"from": "T"}
    )
    assert response.status_code == 202
    message = sms(account)
    assert message.options == {"flash": True, "split_parts": True}
    assert message.sending.options["split_parts"] is True
    assert message.sending.options["flash"] is True


def test_boolean_parameters_refuse_other_values_with_422(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="Hi", flash="yes", **{"from": "T"})
    assert error_of(response) == (422, 422)


# ---------------------------------------------------------------------------------------------
# trans, sub, filters, contact fields


def test_trans_1_applies_the_spec_translation_table(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="Información º ªÃ", trans=1, **{"from": "T"})
    assert response.status_code == 202
    assert sms(account).body == "Informacion  A"


def test_trans_0_changes_nothing(api_client, account):
    post_sms(api_client, to=["34666555444"], message="Olá", encoding="gsm-pt", trans=0, **{"from": "T"})
    assert sms(account).body == "Olá"


def test_trans_other_values_are_422(api_client, account):
    assert error_of(post_sms(api_client, to=["34666555444"], message="Hi", trans=2, **{"from": "T"})) == (422, 422)


def test_sub_fills_each_recipients_variables_with_filters(api_client, account):
    response = post_sms(
        api_client,
        to=["34666555444", "34666555333"],
        message="Hello {name|capitalizeAll}, you owe {amount|formatDotComma}",
        sub=[{"name": "first contact name", "amount": "1234.56"}, {"name": "SECOND", "amount": 10}],
        **{"from": "TEST"},
    )
    assert response.status_code == 202
    first, second = (sms(account, recipient=r) for r in ("34666555444", "34666555333"))
    assert first.body == "Hello First Contact Name, you owe 1.234,56"
    assert second.body == "Hello SECOND, you owe 10"


def test_variables_come_from_the_contact_custom_fields_then_its_fields(api_client, account):
    contact(account, phone="34666555444", name="ana", custom_fields={"city": "Madrid", "name": "Custom Ana"})
    contact(account, phone="34666555333", name="luis")
    post_sms(
        api_client,
        to=["34666555444", "34666555333"],
        message="{name|upper} from {city|lower}",
        **{"from": "T"},
    )
    assert sms(account, recipient="34666555444").body == "CUSTOM ANA from madrid"
    assert sms(account, recipient="34666555333").body == "LUIS from "


def test_sub_wins_over_the_contact(api_client, account):
    contact(account, phone="34666555444", name="Ana", custom_fields={"city": "Madrid"})
    post_sms(api_client, to=["34666555444"], message="{name} {city}", sub=[{"city": "Bilbao"}], **{"from": "T"})
    assert sms(account).body == "Ana Bilbao"


@pytest.mark.parametrize("sub", [[{"name": "a"}], "x", [{"name": "a"}, "b"], [{"name": {"nested": 1}}, {}]])
def test_sub_must_have_one_object_per_recipient(api_client, account, sub):
    response = post_sms(api_client, to=["34666555444", "34666555333"], message="{name}", sub=sub, **{"from": "T"})
    assert error_of(response) == (422, 422)
    assert nothing_written(account)


def test_unknown_filter_is_422(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="Hi {name|reverse}", **{"from": "T"})
    assert error_of(response) == (422, 422)
    assert "reverse" in response.json()["error"]["description"]


def test_placeholders_of_features_not_built_yet_are_refused(api_client, account):
    # {OTP_CODE} is wired now (tests/otp/test_send_otp.py); {LAND_URL} belongs to /landingsms.
    response = post_sms(api_client, to=["34666555444"], message="Visit {LAND_URL}", **{"from": "T"})
    assert error_of(response) == (422, 422)
    assert nothing_written(account)


def test_a_rendered_message_too_long_for_one_recipient_refuses_only_that_recipient(api_client, account):
    response = post_sms(
        api_client,
        to=["34666555444", "34666555333"],
        message="Hi {name}",
        sub=[{"name": "x"}, {"name": "y" * 200}],
        **{"from": "T"},
    )
    assert response.status_code == 207
    assert response.json()["result"][1]["error"] == {"code": 105, "description": "Text message too long"}


def test_unsub_url_is_a_signed_link_to_the_message(api_client, account, settings):
    settings.PUBLIC_URL = "https://sms.example.org"
    response = post_sms(api_client, to=["34666555444"], message="Stop: {UNSUB_URL}", parts=2, **{"from": "T"})
    message = sms(account)
    prefix = "Stop: https://sms.example.org/u/"
    assert message.body.startswith(prefix)
    token = message.body[len(prefix) :]
    assert unsubscribe_token_read(token) == response.json()["result"][0]["id"]
    assert unsubscribe_token_read(token[:-1] + ("A" if token[-1] != "A" else "B")) is None


# ---------------------------------------------------------------------------------------------
# Recipients: contacts, blacklist, duplicates


def test_a_send_creates_a_phone_contact_with_its_country(api_client, account):
    post_sms(api_client, to=["34666555444", "351912345678"], message="Hi", **{"from": "T"})
    created = {c.phone: c for c in Contact.objects.filter(account=account)}
    assert set(created) == {"34666555444", "351912345678"}
    assert created["34666555444"].country_iso == "ES"
    assert created["351912345678"].country_iso == "PT"
    assert created["34666555444"].email is None
    assert sms(account, recipient="34666555444").contact == created["34666555444"]


def test_a_send_matches_the_existing_contact_instead_of_creating_one(api_client, account):
    existing = contact(account, phone="34666555444", email="ana@example.com", name="Ana")
    post_sms(api_client, to=["34666555444"], message="Hi {name}", **{"from": "T"})
    assert Contact.objects.filter(account=account).count() == 1
    assert sms(account).contact == existing
    assert sms(account).body == "Hi Ana"


def test_refused_recipients_create_no_contact(api_client, account):
    blacklist(account, "sms", "34666555333")
    post_sms(api_client, to=["34666555444", "34666555333", "34"], message="Hi", **{"from": "T"})
    assert list(Contact.objects.filter(account=account).values_list("phone", flat=True)) == ["34666555444"]


def test_blacklisted_recipient_is_refused_with_102(api_client, account):
    blacklist(account, "sms", "34666555333")
    response = post_sms(api_client, to=["34666555444", "+34 666 555 333"], message="Hi", **{"from": "T"})
    assert response.status_code == 207
    refused = response.json()["result"][1]
    assert refused == {
        "accepted": False,
        "to": "+34 666 555 333",
        "error": {"code": 102, "description": "No valid recipients: the recipient is on the blacklist"},
    }


def test_duplicate_recipient_is_refused_and_the_first_one_sent(api_client, account):
    response = post_sms(api_client, to=["34666555444", "+34666555444"], message="Hi", **{"from": "T"})
    assert response.status_code == 207
    first, second = response.json()["result"]
    assert first["accepted"] is True
    assert second["error"] == {"code": 102, "description": "No valid recipients: duplicate recipient"}
    assert Message.objects.filter(account=account).count() == 1


def test_another_accounts_blacklist_and_contacts_do_not_apply(api_client, account, other_user):
    other = other_user.account
    blacklist(other, "sms", "34666555444")
    contact(other, phone="34666555444", name="Other")
    response = post_sms(api_client, to=["34666555444"], message="Hi {name}", **{"from": "T"})
    assert response.status_code == 202
    assert sms(account).body == "Hi "
    assert Contact.objects.filter(account=account, phone="34666555444").exists()
    assert Contact.objects.filter(account=other).count() == 1


def test_too_many_recipients_is_422(api_client, account, monkeypatch):
    from campaigns.sending import audience

    monkeypatch.setattr(audience, "MAX_RECIPIENTS", 2)
    assert error_of(post_sms(api_client, to=["34666555444"] * 3, message="Hi", **{"from": "T"})) == (422, 422)


# ---------------------------------------------------------------------------------------------
# Dates and windows


def test_schedule_date_schedules_the_messages(api_client, account):
    response = post_sms(
        api_client,
        to=["34666555444"],
        message="Hi",
        scheduleDate="20991231235900",
        expirationDate="21000101000000",
        **{"from": "T"},
    )
    result = response.json()["result"][0]
    assert result["scheduledAt"] == "2099-12-31T23:59:00+00:00"
    assert result["expiresAt"] == "2100-01-01T00:00:00+00:00"
    message = sms(account)
    assert message.status == MessageStatus.SCHEDULED
    assert message.scheduled_at == message.due_at == datetime(2099, 12, 31, 23, 59, tzinfo=UTC)
    assert message.expires_at == datetime(2100, 1, 1, tzinfo=UTC)
    assert message.sending.scheduled_at == message.scheduled_at


def test_schedule_date_in_the_past_sends_at_once(api_client, account):
    post_sms(api_client, to=["34666555444"], message="Hi", scheduleDate="20130215142000", **{"from": "T"})
    message = sms(account)
    assert message.status == MessageStatus.QUEUED
    assert message.due_at <= timezone.now()


@pytest.mark.parametrize("value", ["2013-02-15 14:20", "20131345142000", "201302151420", 12, "tomorrow"])
def test_invalid_schedule_date_is_121(api_client, account, value):
    response = post_sms(api_client, to=["34666555444"], message="Hi", scheduleDate=value, **{"from": "T"})
    assert error_of(response) == (400, 121)
    assert nothing_written(account)


@pytest.mark.parametrize("value", ["2099-01-01", "20990230000000", "20130215142000"])
def test_invalid_or_past_expiration_date_is_119(api_client, account, value):
    response = post_sms(api_client, to=["34666555444"], message="Hi", expirationDate=value, **{"from": "T"})
    assert error_of(response) == (400, 119)


def test_expiration_before_the_schedule_date_is_119(api_client, account):
    response = post_sms(
        api_client,
        to=["34666555444"],
        message="Hi",
        scheduleDate="20990101000000",
        expirationDate="20981231000000",
        **{"from": "T"},
    )
    assert error_of(response) == (400, 119)


def test_available_times_are_stored_and_delay_the_message_to_the_next_window(api_client, account):
    # 2099-01-05 is a Monday; the only window is Tuesday 09:00-21:00 UTC.
    windows = [{"day": 2, "from": "09:00", "to": "21:00"}]
    response = post_sms(
        api_client,
        to=["34666555444"],
        message="Hi",
        scheduleDate="20990105100000",
        availableTimes=windows,
        **{"from": "T"},
    )
    assert response.status_code == 202
    message = sms(account)
    assert message.sending.options["available_times"] == windows
    assert message.status == MessageStatus.SCHEDULED
    assert message.due_at == datetime(2099, 1, 6, 9, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# notificationUrl, campaignName, tags, certified


def test_notification_url_string_applies_to_every_recipient(api_client, account):
    url = "https://example.com/notify.php?sender=%p&phone=%P&status=%s"
    post_sms(api_client, to=["34666555444", "34666555333"], message="Hi", notificationUrl=url, **{"from": "T"})
    assert set(Message.objects.filter(account=account).values_list("notification_url", flat=True)) == {url}


def test_notification_url_array_gives_one_url_per_recipient(api_client, account):
    urls = ["https://example.com/first-notification-url", "https://example.com/second-notification-url"]
    post_sms(
        api_client,
        to=["34666555444", "34666555333"],
        message="SMS text message",
        notificationUrl=urls,
        **{"from": "TEST"},
    )
    assert sms(account, recipient="34666555444").notification_url == urls[0]
    assert sms(account, recipient="34666555333").notification_url == urls[1]


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://example.com/x", ["https://example.com/a"], ["https://example.com/a", "nope"], 5]
)
def test_invalid_notification_url_is_109(api_client, account, url):
    response = post_sms(
        api_client, to=["34666555444", "34666555333"], message="Hi", notificationUrl=url, **{"from": "T"}
    )
    assert error_of(response) == (400, 109)
    assert nothing_written(account)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/?s=%s", "the address 169.254.169.254 is link-local"),
        ("http://10.0.0.8/dlr?s=%s", "the address 10.0.0.8 is private"),
        ("http://[::1]:8000/dlr", "the address ::1 is loopback"),
        ("http://localhost/dlr", "localhost is a loopback name"),
        (["https://example.com/a", "http://127.0.0.1/b"], "the address 127.0.0.1 is loopback"),
    ],
)
def test_a_notification_url_to_a_non_public_address_is_109_naming_why(api_client, account, settings, url, reason):
    # tests/conftest.py lets 127.0.0.1 through for the fake receivers; the refusal is proven without it.
    settings.OUTBOUND_ALLOWED_HOSTS = []
    response = post_sms(
        api_client, to=["34666555444", "34666555333"], message="Hi", notificationUrl=url, **{"from": "T"}
    )
    assert error_of(response) == (400, 109)
    assert response.json()["error"]["description"] == f"Notification URL incorrect: {reason}."
    assert nothing_written(account)


def test_a_notification_url_of_an_allowed_internal_host_is_accepted(api_client, account, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["receiver.internal", "10.0.0.8"]
    urls = ["http://receiver.internal/dlr?s=%s", "http://10.0.0.8/dlr?s=%s"]
    response = post_sms(
        api_client, to=["34666555444", "34666555333"], message="Hi", notificationUrl=urls, **{"from": "T"}
    )
    assert response.status_code == 202, response.json()
    assert set(Message.objects.filter(account=account).values_list("notification_url", flat=True)) == set(urls)


def test_campaign_name_creates_the_campaign_once_and_later_sends_reuse_it(api_client, account):
    first = post_sms(api_client, to=["34666555444"], message="Hi", campaignName="Spring", tags=["a"], **{"from": "T"})
    second = post_sms(api_client, to=["34666555444"], message="Hi", campaignName="Spring", tags=["b"], **{"from": "T"})
    campaign = Campaign.objects.get(account=account, name="Spring")
    assert first.json()["campaignId"] == second.json()["campaignId"] == campaign.pk
    assert first.json()["sendingId"] != second.json()["sendingId"]
    assert campaign.tags == ["a", "b"]
    assert Sending.objects.get(pk=second.json()["sendingId"]).tags == ["b"]


def test_same_campaign_name_in_another_account_is_another_campaign(api_client, other_client, account):
    mine = post_sms(api_client, to=["34666555444"], message="Hi", campaignName="Spring", **{"from": "T"})
    theirs = post_sms(other_client, to=["34666555444"], message="Hi", campaignName="Spring", **{"from": "T"})
    assert theirs.status_code == 402  # the other account has no balance ...
    assert Campaign.objects.filter(name="Spring").count() == 1  # ... and nothing of its send remains
    assert mine.json()["campaignId"] == Campaign.objects.get(account=account).pk


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_campaign_name_is_126(api_client, account, name):
    response = post_sms(api_client, to=["34666555444"], message="Hi", campaignName=name, **{"from": "T"})
    assert error_of(response) == (400, 126)


def test_tags_without_campaign_name_are_126(api_client, account):
    assert error_of(post_sms(api_client, to=["34666555444"], message="Hi", tags=["x"], **{"from": "T"})) == (400, 126)


def test_certified_is_stored(api_client, account):
    post_sms(api_client, to=["34666555444"], message="Hi", certified=True, **{"from": "T"})
    message = sms(account)
    assert message.certified is True
    assert message.sending.options["certified"] is True


# ---------------------------------------------------------------------------------------------
# Cost and balance


def test_cost_is_parts_times_the_country_price_and_is_debited(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="x" * 200, parts=2, **{"from": "T"})
    message = sms(account)
    assert message.cost == 2 * ES_PRICE
    sending = Sending.objects.get(pk=response.json()["sendingId"])
    assert (sending.cost, sending.total, sending.total_sms_parts, sending.currency) == (2 * ES_PRICE, 1, 2, "EUR")
    account.refresh_from_db()
    assert account.balance == Decimal("100") - 2 * ES_PRICE


def test_account_price_overrides_the_platform_price(api_client, account):
    AccountSmsPrice.objects.create(account=account, country_iso="ES", cost=Decimal("0.01"))
    post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "T"})
    assert sms(account).cost == Decimal("0.01")


def test_countries_without_a_price_use_the_platform_default(api_client, account):
    SmsPrice.objects.filter(country_iso="BR").delete()  # the shipped table has every country; an operator removed it
    post_sms(api_client, to=["5511987654321"], message="Hi", **{"from": "T"})
    assert sms(account).cost == SmsPrice.objects.get(country_iso="ZZ").cost


def test_not_enough_balance_is_402_111_and_nothing_is_queued(api_client, account):
    account.balance = Decimal("0.04")
    account.save()
    response = post_sms(api_client, to=["34666555444"], message="Hi", campaignName="Broke", **{"from": "T"})
    assert response.status_code == 402
    assert response.json() == {"error": {"code": 111, "description": "Not enough credits"}}
    assert nothing_written(account)
    assert not Contact.objects.filter(account=account).exists()
    assert not Campaign.objects.filter(account=account).exists()
    account.refresh_from_db()
    assert account.balance == Decimal("0.04")


def test_exact_balance_is_enough(api_client, account):
    account.balance = ES_PRICE
    account.save()
    assert post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "T"}).status_code == 202
    account.refresh_from_db()
    assert account.balance == 0


def test_the_send_wakes_the_dispatcher_after_commit(
    api_client, account, monkeypatch, django_capture_on_commit_callbacks
):
    import messaging.tasks

    kicks = []
    monkeypatch.setattr(messaging.tasks, "kick_dispatch", lambda: kicks.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "T"})
    assert kicks == [1]


def test_unauthenticated_send_is_refused(client, account):
    response = client.post("/api/rest/sms", SMS_SAMPLE_REQUEST, content_type="application/json")
    assert response.status_code == 401
    assert nothing_written(account)


def test_the_portable_write_path_stores_the_same_message(api_client, account, monkeypatch):
    from campaigns import outbox

    monkeypatch.setattr(outbox, "use_copy", lambda: False)  # bulk_create, as on SQLite
    response = post_sms(api_client, to=["34666555444"], message="x" * 200, parts=2, flash=True, **{"from": "T"})
    message = sms(account, public_id=response.json()["result"][0]["id"])
    assert (message.body, message.parts, message.cost, message.options) == (
        "x" * 200,
        2,
        2 * ES_PRICE,
        {"flash": True, "split_parts": False},
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"message": "Hi\x00there", "encoding": "utf-16"}, "message"),
        ({"campaignName": "Spring\x00"}, "campaignName"),
        ({"sub": [{"name": "A\x00"}]}, "sub.0.name"),
    ],
)
def test_a_nul_character_anywhere_in_the_body_is_422_naming_the_field_and_writes_nothing(
    api_client, account, changes, field
):
    response = post_sms(api_client, **{**SMS_SAMPLE_REQUEST, **changes})
    assert error_of(response) == (422, 422)
    assert response.json()["error"]["description"] == f"The {field} may not contain a NUL character."
    assert nothing_written(account)
