"""The recipient's personal form page: reached through {FORM_<id>} in an SMS, validated in the
page and on the server, answers written onto the contact as typed custom fields, and
form_opened / form_submitted / form_rejected recorded as events with their notifications."""

import json
import re

import pytest

from contacts.models import Contact, CustomField
from content.links import form_link_url
from content.models import FormAnswer
from messaging.models import Event, Message, Notification
from tests.content.conftest import VALID_ANSWERS

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://localhost:8000(/form/[^/\s]+/)")


@pytest.fixture
def notified_account(account):
    account.event_notification_url = "https://hooks.example.com/events"
    account.save(update_fields=["event_notification_url"])
    return account


def send_form_sms(api_client, form, to="34666555444") -> tuple[Message, str]:
    response = api_client.post(
        "/api/rest/sms",
        {"to": [to], "from": "ACME", "message": f"Tell us: {form.placeholder}", "campaignName": "Survey 2026"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    message = Message.objects.get(public_id=response.json()["result"][0]["id"])
    path = LINK.search(message.body).group(1)
    return message, path


def test_the_sms_carries_the_recipients_personal_link(api_client, survey):
    message, _path = send_form_sms(api_client, survey)

    assert message.body == f"Tell us: {form_link_url(form_id=survey.pk, public_id=message.public_id)}"
    assert "{FORM_" not in message.body


def test_an_sms_naming_an_unknown_or_foreign_form_is_refused(api_client, other_user, account):
    from content.services import form_create

    foreign = form_create(account=other_user.account, name="Theirs", form_fields=[{"type": "h1", "label": "x"}])

    for form_id in (foreign.pk, 999999):
        response = api_client.post(
            "/api/rest/sms", {"to": ["34666555444"], "from": "ACME", "message": f"Go {{FORM_{form_id}}}"}, format="json"
        )
        assert response.status_code == 422
        assert f"form {form_id} does not exist" in response.json()["error"]["description"]
    assert not Message.objects.filter(account=account).exists()


def test_opening_records_form_opened_once(
    client, api_client, survey, notified_account, django_capture_on_commit_callbacks
):
    message, path = send_form_sms(api_client, survey)

    with django_capture_on_commit_callbacks(execute=True):
        first = client.get(path, HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148 Safari/604.1")
        client.get(path)

    assert first.status_code == 200
    assert first["Content-Security-Policy"].startswith("default-src 'none'")
    html = first.content.decode()
    assert 'name="form_name"' in html and "required" in html and 'type="email"' in html
    [opened] = Event.objects.filter(message=message, type="form_opened")
    assert opened.extra == {"formId": survey.pk}
    assert opened.is_mobile is True
    assert Notification.objects.filter(event=opened, url="https://hooks.example.com/events").exists()


def test_a_submission_writes_typed_custom_fields_and_records_form_submitted(
    client, api_client, survey, notified_account, django_capture_on_commit_callbacks
):
    message, path = send_form_sms(api_client, survey)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, {**VALID_ANSWERS, "action": "submit"})

    assert response.status_code == 200
    assert "Your answers have been saved." in response.content.decode()
    contact = Contact.objects.get(pk=message.contact_id)
    assert contact.custom_fields == {
        "form_name": "Ana",
        "form_secret": "abracadabra",
        "form_email": "ana@example.com",
        "form_age": "41.5",
        "form_comments": "All good",
        "form_birthday": "1984-02-29",
        "form_colour": "#1f5fbf",
        "form_country": "ES",
        "form_plan": "pro",
        "form_satisfaction": "10",
        "form_terms": "1",
    }
    types = dict(CustomField.objects.filter(account=notified_account).values_list("key", "type"))
    assert (types["form_age"], types["form_terms"], types["form_birthday"], types["form_name"]) == (
        "decimal", "decimal", "date", "string",
    )  # fmt: skip
    [submitted] = Event.objects.filter(message=message, type="form_submitted")
    assert submitted.extra["formValues"]["form_name"] == "Ana"
    notification = Notification.objects.get(event=submitted)
    from messaging.notifications import account_post_fields

    fields = dict(account_post_fields(event=submitted))
    assert fields["formId"] == str(survey.pk)
    assert fields["event"] == "form_submitted"
    assert fields["campaignName"] == "Survey 2026"
    assert json.loads(fields["extra"])["formValues"]["form_terms"] == "1"
    assert notification.url == "https://hooks.example.com/events"
    assert FormAnswer.objects.get(form=survey, contact=contact).values["form_country"] == "ES"


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"form_name": ""}, "form_name", "This field is required."),
        ({"form_email": "not-an-email"}, "form_email", "Enter a valid email address."),
        ({"form_age": "forty"}, "form_age", "Enter a number."),
        ({"form_birthday": "2023-02-30"}, "form_birthday", "Enter a real date."),
        ({"form_colour": "blue"}, "form_colour", "Enter a colour as #rrggbb."),
        ({"form_country": "XX"}, "form_country", "Choose a country from the list."),
        ({"form_name": "An\x00a"}, "form_name", "Remove the NUL character from this value."),
        ({"form_plan": "gold"}, "form_plan", "Choose one of the options."),
        ({"form_satisfaction": "11"}, "form_satisfaction", "Choose one of the options."),
        ({"form_terms": ""}, "form_terms", "Please tick this box to continue."),
    ],
)
def test_the_server_checks_required_fields_and_types_and_changes_nothing(
    client, api_client, survey, changes, field, problem
):
    message, path = send_form_sms(api_client, survey)

    response = client.post(path, {**VALID_ANSWERS, **changes, "action": "submit"})

    assert response.status_code == 422
    html = response.content.decode()
    assert problem in html
    assert 'id="field-' in html and "Please correct the fields marked below." in html
    assert Contact.objects.get(pk=message.contact_id).custom_fields in ({}, None)
    assert not Event.objects.filter(message=message, type="form_submitted").exists()
    assert not FormAnswer.objects.exists()


def test_the_value_typed_is_kept_in_the_page_after_an_error(client, api_client, survey):
    _message, path = send_form_sms(api_client, survey)

    response = client.post(path, {**VALID_ANSWERS, "form_email": "bad", "action": "submit"})

    assert 'value="Ana"' in response.content.decode()


def test_a_non_editable_form_cannot_be_submitted_twice(client, api_client, survey):
    survey.editable = False
    survey.save()
    message, path = send_form_sms(api_client, survey)
    assert client.post(path, {**VALID_ANSWERS, "action": "submit"}).status_code == 200

    again = client.post(path, {**VALID_ANSWERS, "form_name": "Eve", "action": "submit"})
    page = client.get(path)

    assert again.status_code == 409
    assert "It cannot be sent again." in page.content.decode()
    assert Contact.objects.get(pk=message.contact_id).custom_fields["form_name"] == "Ana"
    assert Event.objects.filter(message=message, type="form_submitted").count() == 1


def test_an_editable_form_takes_a_new_answer_and_shows_the_last_one(client, api_client, survey):
    message, path = send_form_sms(api_client, survey)
    client.post(path, {**VALID_ANSWERS, "action": "submit"})

    client.post(path, {**VALID_ANSWERS, "form_name": "Ana María", "action": "submit"})

    assert Contact.objects.get(pk=message.contact_id).custom_fields["form_name"] == "Ana María"
    assert Event.objects.filter(message=message, type="form_submitted").count() == 2
    assert 'value="Ana María"' in client.get(path).content.decode()


def test_reject_stores_nothing_and_records_form_rejected(
    client, api_client, survey, notified_account, django_capture_on_commit_callbacks
):
    message, path = send_form_sms(api_client, survey)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, {"action": "reject"})

    assert response.status_code == 200
    assert "You declined this form." in response.content.decode()
    assert not Contact.objects.get(pk=message.contact_id).custom_fields
    [rejected] = Event.objects.filter(message=message, type="form_rejected")
    assert Notification.objects.filter(event=rejected).exists()


def test_reject_without_a_reject_button_is_a_submission(client, api_client, survey):
    survey.reject_button = False
    survey.save()
    message, path = send_form_sms(api_client, survey)

    response = client.post(path, {"action": "reject"})

    assert response.status_code == 422  # required fields missing
    assert not Event.objects.filter(message=message, type="form_rejected").exists()


@pytest.mark.parametrize("mangle", ["signature", "form", "message", "garbage"])
def test_tampered_links_are_404_never_500(client, api_client, survey, mangle):
    message, path = send_form_sms(api_client, survey)
    token = path.split("/")[2]
    value, _, signature = token.rpartition(".")
    tampered = {
        "signature": f"{value}.{signature[:-2]}xx",
        "form": f"{survey.pk + 1}-{message.public_id}.{signature}",
        "message": f"{survey.pk}-0000000000000.{signature}",
        "garbage": "%00%ff..",
    }[mangle]

    assert client.get(f"/form/{tampered}/").status_code == 404
    assert client.post(f"/form/{tampered}/", {**VALID_ANSWERS}).status_code == 404
    assert not Event.objects.filter(message=message).exclude(type="sent").exists()


def test_a_validly_signed_link_to_another_accounts_form_is_404(client, api_client, survey, other_user):
    from content.services import form_create

    foreign = form_create(account=other_user.account, name="Theirs", form_fields=[{"type": "h1", "label": "x"}])
    message, _path = send_form_sms(api_client, survey)

    forged = form_link_url(form_id=foreign.pk, public_id=message.public_id).removeprefix("http://localhost:8000")

    assert client.get(forged).status_code == 404


def test_a_deleted_forms_link_is_404(client, api_client, survey):
    _message, path = send_form_sms(api_client, survey)
    survey.delete()

    assert client.get(path).status_code == 404


def test_a_link_whose_contact_was_deleted_is_404_and_writes_nothing(client, api_client, survey):
    message, path = send_form_sms(api_client, survey)
    Contact.objects.filter(pk=message.contact_id).delete()

    assert client.get(path).status_code == 404
    assert client.post(path, {**VALID_ANSWERS, "action": "submit"}).status_code == 404
    assert not FormAnswer.objects.exists()
