"""POST /api/rest/mailing: every parameter, the verified-sender codes, attachments, unsubscribe
headers, contacts and the 202 / 207 / 400 shapes."""

import base64
from datetime import UTC, datetime

import pytest

from campaigns.models import Campaign, Sending
from contacts.models import Contact
from messaging.models import Message, MessageStatus
from tests.campaigns.conftest import (
    MAILING_SAMPLE_REQUEST,
    blacklist,
    contact,
    error_of,
    nothing_written,
    post_mailing,
)
from tracking.links import unsubscribe_token_read

pytestmark = pytest.mark.django_db


def mail(account, **filters) -> Message:
    return Message.objects.get(account=account, **filters)


def sample(**changes):
    body = dict(MAILING_SAMPLE_REQUEST)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


# ---------------------------------------------------------------------------------------------
# Shapes


def test_spec_sample_is_accepted_with_the_202_shape(api_client, mail_account):
    response = post_mailing(api_client, **MAILING_SAMPLE_REQUEST)

    assert response.status_code == 202
    body = response.json()
    [result] = body["result"]
    assert body == {
        "campaignId": 0,
        "sendingId": Sending.objects.get(account=mail_account).pk,
        "result": [{"accepted": True, "to": "test@example.com", "id": result["id"], "scheduledAt": None}],
    }
    message = mail(mail_account, public_id=result["id"])
    assert (message.channel, message.sender, message.recipient, message.subject) == (
        "mailing",
        "info@sample.com",
        "test@example.com",
        "TEST",
    )
    # The sample as prepared by content.email: tracked (trackOpens / trackClicks default to true).
    assert message.body.startswith('<html><head><title>TEST</title></head><body><a href="http://localhost:8000/t/c/')
    assert "/t/o/" in message.body
    assert message.options["from_name"] == "Info"
    assert message.options["reply_to"] == "replyto@example.com"
    assert message.status == MessageStatus.QUEUED
    assert message.cost == 0


def test_some_invalid_recipients_answer_207(api_client, mail_account):
    response = post_mailing(api_client, **sample(to=["test@example.com", "invalidEmail"]))
    assert response.status_code == 207
    assert response.json()["result"][1] == {
        "accepted": False,
        "to": "invalidEmail",
        "error": {"code": 102, "description": "No valid recipients"},
    }


def test_no_valid_recipient_is_400_102_and_writes_nothing(api_client, mail_account):
    response = post_mailing(api_client, **sample(to=["invalidEmail", 5]))
    assert response.status_code == 400
    assert response.json() == {"error": {"code": 102, "description": "No valid recipients"}}
    assert nothing_written(mail_account)


def test_every_marketing_email_carries_one_click_unsubscribe_headers(api_client, mail_account, settings):
    settings.PUBLIC_URL = "https://mail.example.org"
    body = '<a href="[unsubscribe_link]">Unsubscribe</a>'
    response = post_mailing(api_client, **sample(body=body, to=["a@example.com", "b@example.com"], trackOpens=False))
    for result in response.json()["result"]:
        message = mail(mail_account, public_id=result["id"])
        headers = message.options["headers"]
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = headers["List-Unsubscribe"][1:-1]
        assert headers["List-Unsubscribe"] == f"<{url}>"
        assert url.startswith("https://mail.example.org/u/")
        assert unsubscribe_token_read(url.rsplit("/", 1)[1]) == message.public_id
        assert message.body == f'<a href="{url}">Unsubscribe</a>'


# ---------------------------------------------------------------------------------------------
# Senders and subject


def test_missing_from_email_is_106(api_client, mail_account):
    assert error_of(post_mailing(api_client, **sample(fromEmail=None))) == (400, 106)


@pytest.mark.parametrize("sender", ["unknown@sample.com", "not-an-email"])
def test_unverified_or_invalid_from_email_is_115(api_client, mail_account, sender):
    assert error_of(post_mailing(api_client, **sample(fromEmail=sender))) == (400, 115)
    assert nothing_written(mail_account)


def test_verified_sender_matches_whatever_the_case(api_client, mail_account):
    assert post_mailing(api_client, **sample(fromEmail="INFO@Sample.com")).status_code == 202


@pytest.mark.parametrize("reply_to", [None, "", "not-an-email"])
def test_missing_or_invalid_reply_to_is_116(api_client, mail_account, reply_to):
    assert error_of(post_mailing(api_client, **sample(replyTo=reply_to if reply_to is not None else None))) == (
        400,
        116,
    )


def test_unverified_reply_to_is_117(api_client, mail_account):
    assert error_of(post_mailing(api_client, **sample(replyTo="someone@example.com"))) == (400, 117)


def test_another_accounts_verified_sender_is_not_verified_here(api_client, other_client, mail_account):
    assert error_of(post_mailing(other_client, **MAILING_SAMPLE_REQUEST)) == (400, 115)


@pytest.mark.parametrize("subject", [None, "", "  ", "two\nlines", "x" * 999])
def test_missing_or_invalid_subject_is_114(api_client, mail_account, subject):
    assert error_of(post_mailing(api_client, **sample(subject=subject))) == (400, 114)


def test_subject_and_body_are_personalised_and_contact_values_are_html_escaped(api_client, mail_account):
    contact(mail_account, email="test@example.com", name="<b>Ana</b>", custom_fields={"city": "Sevilla"})
    post_mailing(api_client, **sample(subject="Hola {name}", body="<p>{name} de {city|upper}</p>", trackOpens=False))
    message = mail(mail_account)
    assert message.subject == "Hola <b>Ana</b>"
    assert message.body == "<p>&lt;b&gt;Ana&lt;/b&gt; de SEVILLA</p>"


def test_sub_values_are_inserted_as_given(api_client, mail_account):
    response = post_mailing(
        api_client,
        **sample(
            to=["test@example.com", "test2@example.com"],
            body='<html><body>Hello {name}, <a href="https://example.com">link</a></body></html>',
            sub=[{"name": "first contact name"}, {"name": "<i>second</i>"}],
        ),
    )
    assert response.status_code == 202
    assert "Hello first contact name," in mail(mail_account, recipient="test@example.com").body
    assert "Hello <i>second</i>," in mail(mail_account, recipient="test2@example.com").body


# ---------------------------------------------------------------------------------------------
# body / templates


def test_missing_body_without_template_is_422(api_client, mail_account):
    assert error_of(post_mailing(api_client, **sample(body=None))) == (422, 422)


@pytest.mark.parametrize("key", ["templateId", "templateV2Id"])
def test_templates_are_not_available_yet_and_answer_140(api_client, mail_account, key):
    response = post_mailing(api_client, **sample(body=None, **{key: 12}))
    assert error_of(response) == (400, 140)
    assert "12" in response.json()["error"]["description"]
    assert nothing_written(mail_account)


# ---------------------------------------------------------------------------------------------
# cc / bcc, tracking, attachments, scheduling, campaign


def test_cc_and_bcc_are_stored_on_each_message(api_client, mail_account):
    post_mailing(api_client, **sample(cc=["Boss@Example.com"], bcc=["audit@example.com"]))
    options = mail(mail_account).options
    assert (options["cc"], options["bcc"]) == (["boss@example.com"], ["audit@example.com"])


def test_invalid_cc_is_422(api_client, mail_account):
    assert error_of(post_mailing(api_client, **sample(cc=["nope"]))) == (422, 422)
    assert nothing_written(mail_account)


def test_tracking_defaults_to_true_and_can_be_turned_off(api_client, mail_account):
    post_mailing(api_client, **sample(to=["a@example.com"]))
    post_mailing(api_client, **sample(to=["b@example.com"], trackOpens=False, trackClicks=False))
    on = mail(mail_account, recipient="a@example.com")
    assert (on.options["track_opens"], on.options["track_clicks"]) == (True, True)
    off = mail(mail_account, recipient="b@example.com")
    assert (off.options["track_opens"], off.options["track_clicks"]) == (False, False)
    assert off.sending.options["track_opens"] is False


def test_attachments_are_stored_base64_with_their_type(api_client, mail_account):
    content = base64.b64encode(b"./bin/zookeeper\n").decode()
    attachments = [
        {"name": "filename.txt", "content": content, "contentType": "text/plain"},
        {"name": "a.bin", "content": content},
    ]
    assert post_mailing(api_client, **sample(attachments=attachments)).status_code == 202
    assert mail(mail_account).options["attachments"] == [
        {"name": "filename.txt", "content": content, "content_type": "text/plain"},
        {"name": "a.bin", "content": content, "content_type": "application/octet-stream"},
    ]


@pytest.mark.parametrize(
    "attachments",
    [
        [{"name": "a.txt", "content": "not base64 !!"}],
        [{"name": "a.txt"}],
        [{"content": "YQ=="}],
        [{"name": "../etc/passwd", "content": "YQ=="}],
        [{"name": "a.txt", "content": "YQ==", "contentType": "text"}],
        "YQ==",
    ],
)
def test_invalid_attachments_are_422(api_client, mail_account, attachments):
    assert error_of(post_mailing(api_client, **sample(attachments=attachments))) == (422, 422)
    assert nothing_written(mail_account)


def test_attachments_over_the_size_or_count_limit_are_422(api_client, mail_account, monkeypatch):
    from campaigns.sending.channels import email

    monkeypatch.setattr(email, "MAX_ATTACHMENTS_BYTES", 10)
    big = [{"name": "a.bin", "content": base64.b64encode(b"x" * 11).decode()}]
    assert error_of(post_mailing(api_client, **sample(attachments=big))) == (422, 422)
    many = [{"name": f"{i}.txt", "content": "YQ=="} for i in range(email.MAX_ATTACHMENTS + 1)]
    assert error_of(post_mailing(api_client, **sample(attachments=many))) == (422, 422)


def test_schedule_date_schedules_the_email(api_client, mail_account):
    response = post_mailing(api_client, **sample(scheduleDate="20991231120000"))
    assert response.json()["result"][0]["scheduledAt"] == "2099-12-31T12:00:00+00:00"
    message = mail(mail_account)
    assert message.status == MessageStatus.SCHEDULED
    assert message.due_at == datetime(2099, 12, 31, 12, tzinfo=UTC)


def test_invalid_schedule_date_is_121(api_client, mail_account):
    assert error_of(post_mailing(api_client, **sample(scheduleDate="2099-12-31"))) == (400, 121)


def test_campaign_name_and_tags_and_certified(api_client, mail_account):
    response = post_mailing(api_client, **sample(campaignName="News", tags=["weekly"], certified=True))
    campaign = Campaign.objects.get(account=mail_account, name="News")
    assert response.json()["campaignId"] == campaign.pk
    assert campaign.tags == ["weekly"]
    assert mail(mail_account).certified is True
    assert error_of(post_mailing(api_client, **sample(campaignName=""))) == (400, 126)
    assert error_of(post_mailing(api_client, **sample(tags=["x"]))) == (400, 126)


# ---------------------------------------------------------------------------------------------
# Recipients


def test_an_email_send_creates_an_email_contact_or_matches_the_existing_one(api_client, mail_account):
    existing = contact(mail_account, email="known@example.com", phone="34666555444")
    post_mailing(api_client, **sample(to=["Known@Example.com", "new@example.com"]))
    assert Contact.objects.filter(account=mail_account).count() == 2
    new = Contact.objects.get(account=mail_account, email="new@example.com")
    assert new.phone is None
    assert mail(mail_account, recipient="known@example.com").contact == existing
    assert mail(mail_account, recipient="new@example.com").contact == new


def test_blacklisted_and_duplicate_addresses_are_refused_per_recipient(api_client, mail_account):
    blacklist(mail_account, "mailing", "gone@example.com")
    blacklist(mail_account, "sms", "test@example.com")  # another channel's list does not apply
    response = post_mailing(api_client, **sample(to=["test@example.com", "gone@example.com", "TEST@example.com"]))
    assert response.status_code == 207
    ok, gone, duplicate = response.json()["result"]
    assert ok["accepted"] is True
    assert gone["error"]["description"] == "No valid recipients: the recipient is on the blacklist"
    assert duplicate["error"]["description"] == "No valid recipients: duplicate recipient"
    assert gone["error"]["code"] == duplicate["error"]["code"] == 102


@pytest.mark.parametrize("field", ["subject", "body", "fromName", "campaignName"])
def test_a_nul_character_in_a_text_field_is_422_naming_it_and_writes_nothing(api_client, mail_account, field):
    response = post_mailing(api_client, **sample(**{field: "Spring\x00sale"}))
    assert error_of(response) == (422, 422)
    assert response.json()["error"]["description"] == f"The {field} may not contain a NUL character."
    assert nothing_written(mail_account)


@pytest.mark.parametrize("changes", [{"campaignName": " "}, {"tags": ["spring"]}])
def test_an_empty_campaign_name_or_tags_without_one_is_126_and_writes_nothing(api_client, mail_account, changes):
    assert error_of(post_mailing(api_client, **sample(**changes))) == (400, 126)
    assert nothing_written(mail_account)
