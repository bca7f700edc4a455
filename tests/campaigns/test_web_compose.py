"""The compose page: sends and test sends through the same services as the API, errors beside
the field with the input kept, scheduling in the account's time zone, account scoping."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import FanoutChunk, Sending
from contacts.models import Contact, Group, Membership
from messaging.models import Message, MessageStatus
from tests.campaigns.conftest import blacklist

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def enqueued(monkeypatch) -> list[tuple]:
    """No django-q2 cluster runs in tests: record what would be enqueued."""
    import django_q.tasks

    calls: list[tuple] = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: calls.append((func, *args)))
    return calls


@pytest.fixture
def web(client, api_user):
    client.force_login(api_user)
    return client


@pytest.fixture
def group(account) -> Group:
    group = Group.objects.create(account=account, name="Customers")
    for index in range(3):
        contact = Contact.objects.create(
            account=account, phone=f"3466600000{index}", country_iso="ES", name=f"n{index}"
        )
        Membership.objects.create(contact=contact, group=group)
    return group


def sms_form(**fields):
    data = {"channel": "sms", "sender": "ACME", "message": "Hello {name}", "encoding": "auto", "parts": "15",
            "when": "now", "action": "send"}  # fmt: skip
    data.update(fields)
    return data


def mail_form(**fields):
    data = {"channel": "mailing", "from_email": "news@acme.test", "reply_to": "news@acme.test", "subject": "Hi {name}",
            "body": "<p>Hello {name}</p>", "when": "now", "action": "send", "track_opens": "on"}  # fmt: skip
    data.update(fields)
    return data


def test_compose_page_renders_labelled_fields_for_the_account(web, group, other_user):
    Group.objects.create(account=other_user.account, name="Globex group")
    response = web.get("/compose/")
    body = response.content.decode()
    assert response.status_code == 200
    for label in ('for="id_message"', 'for="id_sender"', 'for="id_pasted"', 'for="id_schedule_at"', 'for="sample"'):
        assert label in body
    assert "Customers" in body
    assert "Globex group" not in body


def test_sms_to_typed_numbers_is_sent_and_leads_to_the_sending(web, account):
    response = web.post("/compose/", sms_form(pasted="+34666555444\n666555445", campaign_name="Web"))
    sending = Sending.objects.get(account=account)
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/sendings/{sending.pk}/"
    recipients = sorted(Message.objects.filter(sending=sending).values_list("recipient", flat=True))
    assert recipients == ["34666555444", "34666555445"]  # national numbers read in the account's country
    assert sending.campaign.name == "Web"
    account.refresh_from_db()
    assert account.balance < Decimal("100")


def test_blacklisted_and_duplicate_recipients_are_reported_after_the_send(web, account):
    blacklist(account, "sms", "34666555446")
    response = web.post("/compose/", sms_form(pasted="34666555444 34666555444 34666555446"), follow=True)
    text = response.content.decode()
    assert "1 message accepted." in text
    assert "2 refused" in text and "blacklist" in text and "duplicate" in text


def test_chosen_contacts_are_rendered_with_their_fields(web, account, group):
    ids = list(Contact.objects.filter(account=account).order_by("pk").values_list("pk", flat=True))[:2]
    web.post("/compose/", sms_form(contacts=", ".join(map(str, ids))))
    bodies = sorted(Message.objects.values_list("body", flat=True))
    assert bodies == ["Hello n0", "Hello n1"]


def test_a_group_send_goes_through_the_fan_out(web, account, group, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post("/compose/", sms_form(groups=[str(group.pk)]))
    sending = Sending.objects.get(account=account)
    assert response.status_code == 302
    assert sending.options["source"] == "group"
    assert sending.options["fanout"]["group_ids"] == [group.pk]
    assert [call[1] for call in enqueued] == list(FanoutChunk.objects.values_list("pk", flat=True))


def test_all_contacts_sends_to_every_contact(web, account, group):
    web.post("/compose/", sms_form(all_contacts="on"))
    assert Sending.objects.get(account=account).options["fanout"]["group_ids"] is None


def test_auto_encoding_picks_utf16_for_a_non_gsm_character(web, account):
    web.post("/compose/", sms_form(pasted="34666555444", message="Hi {name} ✓"))
    message = Message.objects.get()
    assert message.encoding == "utf-16"


def test_auto_encoding_stays_gsm_for_plain_text(web, account):
    web.post("/compose/", sms_form(pasted="34666555444", message="Hi {name}"))
    assert Message.objects.get().encoding == "gsm"


def test_a_chosen_encoding_that_cannot_carry_the_text_is_shown_beside_the_message(web, account):
    response = web.post("/compose/", sms_form(pasted="34666555444", message="Hi ✓", encoding="gsm"))
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "gsm cannot encode ✓" in errors["message"][0]
    assert "Hi ✓</textarea>" in response.content.decode()  # input kept
    assert not Sending.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"sender": ""}, "sender", "Sender missing"),
        ({"sender": "ABCDEFGHIJKLM"}, "sender", "at most 11 characters"),
        ({"message": ""}, "message", "Message missing"),
        ({"message": "{name|nope}"}, "message", "unknown filter"),
        ({"parts": "1", "message": "x" * 200}, "message", "parts"),
        ({"tags": "a,b"}, "campaign_name", "campaignName is required"),
        ({"pasted": "not-a-number"}, "pasted", "Not valid phone numbers: not-a-number"),
        ({"pasted": ""}, "groups", "Choose who receives it"),
        ({"when": "later"}, "schedule_at", "Give the date and time"),
        (
            {"when": "later", "schedule_at": "2090-01-01T10:00", "expires_at": "2089-01-01T10:00"},
            "expires_at",
            "expiration",
        ),
        ({"window_from_0": "09:00"}, "window_from_0", "both the start and the end"),
        (
            {"window_from_0": "09:00", "window_to_0": "09:00"},
            "window_from_0",
            "The end of window 1 must be different from the start of window 1.",
        ),
    ],
)
def test_sms_errors_appear_beside_their_field_and_nothing_is_sent(web, account, fields, field, words):
    data = sms_form(pasted="34666555444")
    data.update(fields)
    response = web.post("/compose/", data)
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert field in errors, errors
    assert words.lower() in " ".join(errors[field]).lower()
    assert not Sending.objects.exists()


def test_not_enough_balance_is_shown_above_the_form(web, account):
    account.balance = Decimal("0")
    account.save()
    response = web.post("/compose/", sms_form(pasted="34666555444"))
    assert response.status_code == 422
    assert "Not enough credit" in " ".join(response.context["form"].non_field_errors())


def test_groups_and_typed_recipients_together_are_refused(web, group):
    response = web.post("/compose/", sms_form(groups=[str(group.pk)], pasted="34666555444"))
    assert "not both" in response.context["form"].errors["groups"][0]


def test_another_accounts_group_or_contact_cannot_be_used(web, other_user):
    foreign = Group.objects.create(account=other_user.account, name="Globex")
    foreign_contact = Contact.objects.create(account=other_user.account, phone="34666777888")
    response = web.post("/compose/", sms_form(groups=[str(foreign.pk)]))
    assert "groups" in response.context["form"].errors
    response = web.post("/compose/", sms_form(contacts=str(foreign_contact.pk)))
    assert "No such contact" in response.context["form"].errors["contacts"][0]
    assert not Sending.objects.exists()


def test_schedule_is_read_in_the_accounts_time_zone(web, account):
    account.timezone = "Europe/Madrid"
    account.save()
    response = web.post(
        "/compose/",
        sms_form(pasted="34666555444", when="later", schedule_at="2090-07-01T10:30", expires_at="2090-07-02T10:30",
                 window_day_0="1", window_from_0="09:00", window_to_0="21:00"),
    )  # fmt: skip
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.status == MessageStatus.SCHEDULED
    assert message.scheduled_at == datetime(2090, 7, 1, 10, 30, tzinfo=ZoneInfo("Europe/Madrid"))
    assert message.expires_at == datetime(2090, 7, 2, 8, 30, tzinfo=ZoneInfo("UTC"))
    assert message.sending.options["available_times"] == [{"from": "09:00", "to": "21:00", "day": 1}]


def test_email_to_typed_addresses(web, account):
    response = web.post("/compose/", mail_form(pasted="Ana@Example.com"))
    assert response.status_code == 302
    message = Message.objects.get()
    assert (message.channel, message.recipient, message.subject) == ("mailing", "ana@example.com", "Hi ")


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"from_email": ""}, "from_email", "Sender missing"),
        ({"from_email": "ghost@acme.test"}, "from_email", "Select a valid choice"),
        ({"reply_to": ""}, "reply_to", "replyTo"),
        ({"subject": ""}, "subject", "subject is required"),
        ({"body": ""}, "body", "body field is required"),
        ({"pasted": "nobody"}, "pasted", "Not valid email addresses"),
    ],
)
def test_email_errors_appear_beside_their_field(web, account, fields, field, words):
    data = mail_form(pasted="ana@example.com")
    data.update(fields)
    response = web.post("/compose/", data)
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert field in errors, errors
    assert words.lower() in " ".join(errors[field]).lower()
    assert not Sending.objects.exists()


def test_email_group_send(web, account):
    group = Group.objects.create(account=account, name="Readers")
    contact = Contact.objects.create(account=account, email="reader@example.com")
    Membership.objects.create(contact=contact, group=group)
    response = web.post("/compose/", mail_form(groups=[str(group.pk)], when="later", schedule_at="2090-01-01T09:00"))
    assert response.status_code == 302
    sending = Sending.objects.get()
    assert (sending.channel, sending.options["source"]) == ("mailing", "group")
    assert sending.scheduled_at.year == 2090


def test_test_send_goes_to_one_recipient_without_campaign_and_keeps_the_form(web, account):
    response = web.post("/compose/", sms_form(action="test", test_recipient="666555444", campaign_name="Big one",
                                              pasted="34666000001"))  # fmt: skip
    assert response.status_code == 200
    assert "Test sent to 34666555444." in response.content.decode()
    message = Message.objects.get()
    assert message.recipient == "34666555444"
    assert message.sending.campaign is None
    assert response.context["form"]["pasted"].value() == "34666000001"


def test_a_test_send_needs_a_valid_recipient(web):
    response = web.post("/compose/", sms_form(action="test", test_recipient="nope"))
    assert "Enter a mobile phone number." in response.context["form"].errors["test_recipient"][0]
    response = web.post("/compose/", sms_form(action="test", test_recipient=""))
    assert "test_recipient" in response.context["form"].errors
    assert not Sending.objects.exists()


def test_email_test_send(web, account):
    response = web.post("/compose/", mail_form(action="test", test_recipient="me@example.com"))
    assert "Test sent to me@example.com." in response.content.decode()
    assert Message.objects.get().recipient == "me@example.com"


def landing_form(**fields):
    data = sms_form(channel="landing", message="See {LAND_URL}", landing_body="<h1>Hello {name}</h1>")
    data.update(fields)
    return data


def test_landing_sms_to_typed_numbers_links_each_recipient_to_the_page(web, account):
    from tracking.models import ShortLink

    response = web.post("/compose/", landing_form(pasted="34666555444"))
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.channel == "landing"
    link = ShortLink.objects.get(message_public_id=message.public_id)
    assert link.code in message.body
    assert message.sending.options["landing"]["body"] == "<h1>Hello {name}</h1>"


def test_landing_sms_can_take_its_page_from_a_template(web, account):
    from content.models import Template

    template = Template.objects.create(account=account, name="Promo", html="<p>Promo</p>")
    response = web.post(
        "/compose/", landing_form(pasted="34666555444", landing_body="", landing_template=f"2:{template.pk}")
    )
    assert response.status_code == 302
    assert Sending.objects.get().options["landing"]["body"] == "<p>Promo</p>"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"message": "No link here"}, "message", "{LAND_URL}"),
        ({"landing_body": ""}, "landing_template", "Template missing"),
        ({"window_from_0": "09:00", "window_to_0": "10:00"}, "window_from_0", "not available for landing"),
    ],
)
def test_landing_errors_appear_beside_their_field(web, account, fields, field, words):
    response = web.post("/compose/", landing_form(pasted="34666555444", **fields))
    assert response.status_code == 422
    assert words.lower() in " ".join(response.context["form"].errors[field]).lower()
    assert not Sending.objects.exists()


def test_landing_sms_to_groups_is_refused_with_a_reason(web, group):
    response = web.post("/compose/", landing_form(groups=[str(group.pk)]))
    assert "groups are not available" in response.context["form"].errors["groups"][0]
