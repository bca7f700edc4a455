"""/api/rest/validation/emails: list, show, create, delete and the CSV result, with the spec's
sample shapes, bad input and cross-account isolation."""

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from contacts.services import contact_create, group_create
from tests.validation.conftest import (
    SAMPLE_CSV,
    SAMPLE_PAGINATION_KEYS,
    SAMPLE_VALIDATION_KEYS,
)
from validation import services
from validation.models import EmailValidation, EmailValidationItem, ValidationStatus, VerifiedEmail
from validation.services import email_validation_run

URL = "/api/rest/validation/emails"
ISO_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


def create(client, body, **kwargs):
    return client.post(URL, body, format="json", **kwargs)


def error(response) -> tuple[int, int]:
    return response.status_code, response.json()["error"]["code"]


def job_of(account, *emails: str, run: bool = False) -> EmailValidation:
    validation = services.email_validation_create(account=account, emails=list(emails))
    if run:
        email_validation_run(validation_id=validation.pk)
        validation.refresh_from_db()
    return validation


# ---------------------------------------------------------------------------------------------
# Create


def test_create_with_emails_answers_the_pending_sample(api_client, account):
    response = create(api_client, {"emails": ["Valid@Example.com", "valid@example.com", "other@example.com"]})
    assert response.status_code == 201
    data = response.json()["data"]
    assert list(data) == SAMPLE_VALIDATION_KEYS
    validation = EmailValidation.objects.get(account=account)
    assert data["id"] == validation.pk
    assert data["status"] == "pending"
    assert (data["total"], data["processed"], data["valid"]) == (2, 0, 0)
    assert data["estimatedCost"] == 0.007
    assert data["cost"] == 0
    assert data["currency"] == "EUR"
    assert ISO_DATE.match(data["createdAt"]) and ISO_DATE.match(data["updatedAt"])
    assert data["finishedAt"] is None and data["resultUrl"] is None
    assert list(validation.items.values_list("email", flat=True)) == ["valid@example.com", "other@example.com"]


def test_create_with_the_spec_sample_body_takes_the_group_contacts_emails(api_client, account):
    group = group_create(account=account, name="Newsletter")
    other_group = group_create(account=account, name="Clients")
    contact_create(account=account, email="ann@example.com", groups_ids=[group.pk, other_group.pk])
    contact_create(account=account, email="bob@example.com", groups_ids=[group.pk])
    contact_create(account=account, phone="666555444", country_iso="ES", groups_ids=[group.pk])
    contact_create(account=account, email="not-in-group@example.com", groups_ids=[other_group.pk])
    body = {"groupsIds": [group.pk], "force": False, "notificationUrl": "https://example.com/notificationUrl"}
    response = create(api_client, body)
    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["status"], data["total"], data["estimatedCost"], data["cost"]) == ("pending", 2, 0.007, 0)
    validation = EmailValidation.objects.get(pk=data["id"])
    assert validation.notification_url == "https://example.com/notificationUrl"
    assert validation.group_ids == [group.pk]
    assert sorted(validation.items.values_list("email", flat=True)) == ["ann@example.com", "bob@example.com"]


def test_create_with_groups_and_emails_takes_each_address_once(api_client, account):
    group = group_create(account=account, name="A")
    other = group_create(account=account, name="B")
    contact_create(account=account, email="ann@example.com", groups_ids=[group.pk, other.pk])
    contact_create(account=account, email="bob@example.com", groups_ids=[other.pk])
    response = create(api_client, {"groupsIds": [group.pk, other.pk], "emails": ["ANN@example.com", "new@example.com"]})
    assert response.json()["data"]["total"] == 3
    items = EmailValidationItem.objects.filter(validation_id=response.json()["data"]["id"])
    assert list(items.values_list("email", flat=True)) == ["ann@example.com", "new@example.com", "bob@example.com"]


def test_create_keeps_force_and_allow_risky_and_queues_the_job_after_commit(
    api_client, account, django_capture_on_commit_callbacks, _no_queue
):
    with django_capture_on_commit_callbacks(execute=True):
        response = create(api_client, {"emails": ["a@example.com"], "force": True, "allowRisky": True})
    validation = EmailValidation.objects.get(pk=response.json()["data"]["id"])
    assert (validation.force, validation.allow_risky) == (True, True)
    assert _no_queue == [validation.pk]


def test_invalid_addresses_are_accepted_and_counted(api_client):
    response = create(api_client, {"emails": ["notvalid", "x@example.com"]})
    assert response.status_code == 201
    assert response.json()["data"]["total"] == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "The emails field is required when groupsIds is not present."),
        ({"emails": [], "groupsIds": []}, "The emails field is required when groupsIds is not present."),
        ({"emails": None, "force": True}, "The emails field is required when groupsIds is not present."),
        ({"emails": "a@example.com"}, "The emails must be an array."),
        ({"emails": ["a@example.com", ""]}, "The emails.1 must be a non-empty string."),
        ({"emails": [12]}, "The emails.0 must be a non-empty string."),
        ({"emails": ["a" * 250 + "@x.com"]}, "The emails.0 may not be greater than 254 characters."),
        ({"emails": ["a@example.com", "b\x00@example.com"]}, "The emails.1 may not contain a NUL character."),
        ({"groupsIds": "1"}, "The groupsIds must be an array."),
        ({"groupsIds": ["x"]}, "The groupsIds.0 must be an integer."),
        ({"groupsIds": [999999]}, "The selected groupsIds.0 is invalid."),
        ({"emails": ["a@example.com"], "force": "yes"}, "The force field must be true or false."),
        ({"emails": ["a@example.com"], "allowRisky": 2}, "The allowRisky field must be true or false."),
    ],
)
def test_bad_input_is_422_and_creates_nothing(api_client, account, body, message):
    response = create(api_client, body)
    assert error(response) == (422, 422)
    assert response.json()["error"]["description"] == message
    assert not EmailValidation.objects.exists()
    assert not EmailValidationItem.objects.exists()


def test_another_accounts_group_is_rejected_and_changes_nothing(api_client, other_user):
    foreign = group_create(account=other_user.account, name="Theirs")
    contact_create(account=other_user.account, email="them@example.com", groups_ids=[foreign.pk])
    response = create(api_client, {"groupsIds": [foreign.pk], "emails": ["a@example.com"]})
    assert error(response) == (422, 422)
    assert response.json()["error"]["description"] == "The selected groupsIds.0 is invalid."
    assert not EmailValidation.objects.exists()


def test_groups_without_any_email_are_rejected_and_change_nothing(api_client, account):
    group = group_create(account=account, name="Phones only")
    contact_create(account=account, phone="666555444", country_iso="ES", groups_ids=[group.pk])
    response = create(api_client, {"groupsIds": [group.pk]})
    assert error(response) == (422, 422)
    assert response.json()["error"]["description"] == "The selected groups have no contacts with an email."
    assert not EmailValidation.objects.exists()
    assert not EmailValidationItem.objects.exists()


def test_more_emails_than_allowed_are_rejected(api_client, monkeypatch):
    monkeypatch.setattr(services, "MAX_EMAILS", 2)
    response = create(api_client, {"emails": ["a@example.com", "b@example.com", "c@example.com"]})
    assert error(response) == (422, 422)
    assert response.json()["error"]["description"] == "The emails may not have more than 2 items."


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/x", "javascript:alert(1)", 12, ["https://a.com"]])
def test_invalid_notification_url_is_109_and_creates_nothing(api_client, url):
    response = create(api_client, {"emails": ["a@example.com"], "notificationUrl": url})
    assert error(response) == (400, 109)
    assert response.json()["error"]["description"] == "Notification URL incorrect"
    assert not EmailValidation.objects.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "the address 169.254.169.254 is link-local"),
        ("http://localhost:8080/hook", "localhost is a loopback name"),
        ("http://[::ffff:10.0.0.1]/hook", "embeds 10.0.0.1"),
    ],
)
def test_a_notification_url_to_a_non_public_address_is_109_naming_why(api_client, settings, url, reason):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    response = create(api_client, {"emails": ["a@example.com"], "notificationUrl": url})
    assert error(response) == (400, 109)
    assert reason in response.json()["error"]["description"]
    assert not EmailValidation.objects.exists()


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"{not json", b"null"])
def test_body_that_is_not_a_json_object_is_125(api_client, raw):
    response = api_client.post(URL, raw, content_type="application/json")
    assert error(response) == (400, 125)
    assert not EmailValidation.objects.exists()


def test_not_enough_balance_for_the_estimated_cost_is_402_and_creates_nothing(api_client, account):
    Account.objects.filter(pk=account.pk).update(balance=Decimal("0.0069"))
    response = create(api_client, {"emails": ["a@example.com", "b@example.com"]})
    assert error(response) == (402, 111)
    assert response.json()["error"]["description"] == "Not enough credits"
    assert not EmailValidation.objects.exists()
    assert not EmailValidationItem.objects.exists()
    account.refresh_from_db()
    assert account.balance == Decimal("0.0069")


def test_exactly_enough_balance_is_accepted_and_nothing_is_taken_before_the_job_starts(api_client, account):
    Account.objects.filter(pk=account.pk).update(balance=Decimal("0.0070"))
    response = create(api_client, {"emails": ["a@example.com", "b@example.com"]})
    assert response.status_code == 201
    account.refresh_from_db()
    assert account.balance == Decimal("0.0070")


def test_price_comes_from_the_setting(api_client, settings):
    settings.EMAIL_VALIDATION_PRICE = Decimal("0.01")
    response = create(api_client, {"emails": ["a@example.com", "b@example.com", "c@example.com"]})
    assert response.json()["data"]["estimatedCost"] == 0.03


def test_an_account_price_set_by_operators_wins_over_the_setting(api_client, account, settings):
    settings.EMAIL_VALIDATION_PRICE = Decimal("0.01")
    Account.objects.filter(pk=account.pk).update(email_validation_price=Decimal("0.002"))
    response = create(api_client, {"emails": ["a@example.com", "b@example.com", "c@example.com"]})
    assert response.json()["data"]["estimatedCost"] == 0.006


def test_unauthenticated_calls_are_401(client):
    assert client.get(URL).status_code == 401
    assert client.post(URL, {"emails": ["a@example.com"]}, content_type="application/json").status_code == 401


# ---------------------------------------------------------------------------------------------
# List and show


def test_list_answers_the_sample_shape_paginated(api_client, account, dns_server):
    finished = job_of(account, "valid@example.com", "info@example.com", run=True)
    pending = job_of(account, "x@example.com")
    response = api_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["data", "meta"]
    assert list(body["meta"]["pagination"]) == SAMPLE_PAGINATION_KEYS
    assert body["meta"]["pagination"]["total"] == 2
    first, second = body["data"]
    assert list(first) == SAMPLE_VALIDATION_KEYS
    assert (first["id"], first["status"], first["total"], first["processed"], first["valid"]) == (
        finished.pk,
        "finished",
        2,
        2,
        1,
    )
    assert first["estimatedCost"] == 0.007 and first["cost"] == 0.007
    assert ISO_DATE.match(first["finishedAt"])
    assert first["resultUrl"] == f"http://testserver/api/rest/validation/emails/{finished.pk}/result"
    assert (second["id"], second["status"], second["resultUrl"]) == (pending.pk, "pending", None)


def test_list_pages_with_limit_and_links(api_client, account):
    jobs = [job_of(account, f"user{index}@example.com") for index in range(3)]
    body = api_client.get(URL, {"limit": 2}).json()
    assert [item["id"] for item in body["data"]] == [jobs[0].pk, jobs[1].pk]
    pagination = body["meta"]["pagination"]
    assert (pagination["total"], pagination["count"], pagination["per_page"], pagination["total_pages"]) == (3, 2, 2, 2)
    assert pagination["links"]["next"] == "http://testserver/api/rest/validation/emails?limit=2&page=2"
    page_two = api_client.get(URL, {"limit": 2, "page": 2}).json()
    assert [item["id"] for item in page_two["data"]] == [jobs[2].pk]
    assert error(api_client.get(URL, {"limit": 0})) == (422, 422)


def test_list_runs_a_fixed_number_of_queries_whatever_the_page_size(api_client, account, django_assert_max_num_queries):
    for index in range(20):
        job_of(account, f"user{index}@example.com")
    with django_assert_max_num_queries(8):
        response = api_client.get(URL)
    assert len(response.json()["data"]) == 20


def test_show_answers_the_sample_shape(api_client, account):
    validation = job_of(account, "a@example.com")
    response = api_client.get(f"{URL}/{validation.pk}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert list(data) == SAMPLE_VALIDATION_KEYS
    assert (data["id"], data["status"], data["total"], data["estimatedCost"]) == (validation.pk, "pending", 1, 0.0035)


@pytest.mark.parametrize("path", ["/999999", "/0", "/99999999999999999999999"])
def test_show_of_an_unknown_id_is_404(api_client, path):
    response = api_client.get(URL + path)
    assert error(response) == (404, 404)
    assert response.json()["error"]["description"] == "Resource not found"


# ---------------------------------------------------------------------------------------------
# Delete


def test_delete_removes_the_job_and_its_results(api_client, account):
    validation = job_of(account, "a@example.com", "b@example.com")
    response = api_client.delete(f"{URL}/{validation.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert not EmailValidation.objects.exists()
    assert not EmailValidationItem.objects.exists()
    assert error(api_client.get(f"{URL}/{validation.pk}")) == (404, 404)
    assert error(api_client.delete(f"{URL}/{validation.pk}")) == (404, 404)


def test_delete_keeps_the_reuse_records_of_the_addresses(api_client, account, dns_server):
    validation = job_of(account, "a@example.com", run=True)
    api_client.delete(f"{URL}/{validation.pk}")
    assert VerifiedEmail.objects.filter(account=account, email="a@example.com").exists()


# ---------------------------------------------------------------------------------------------
# Result (CSV)


def test_result_is_the_spec_sample_csv(api_client, account, dns_server):
    # Earlier results for two of the addresses are reused, giving the sample's three outcomes.
    now = timezone.now()
    VerifiedEmail.objects.create(account=account, email="notvalid@example.com", result="undeliverable", checked_at=now)
    VerifiedEmail.objects.create(account=account, email="unknown@example.com", result="risky", checked_at=now)
    validation = job_of(account, "valid@example.com", "notvalid@example.com", "unknown@example.com", run=True)
    response = api_client.get(f"{URL}/{validation.pk}/result")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(response.streaming_content).decode() == SAMPLE_CSV


def test_result_keeps_invalid_input_lower_cased_and_defuses_spreadsheet_formulas(api_client, account, dns_server):
    validation = job_of(account, "=cmd|' /C calc'!A0", "not an email", run=True)
    content = b"".join(api_client.get(f"{URL}/{validation.pk}/result").streaming_content).decode()
    assert content == "email;result\n'=cmd|' /c calc'!a0;undeliverable\nnot an email;undeliverable\n"


def test_result_answers_csv_to_a_client_that_asks_for_csv(api_client, account, dns_server):
    validation = job_of(account, "valid@example.com", run=True)
    response = api_client.get(f"{URL}/{validation.pk}/result", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode() == "email;result\nvalid@example.com;deliverable\n"


def test_result_before_the_job_has_finished_is_404(api_client, account):
    validation = job_of(account, "a@example.com")
    response = api_client.get(f"{URL}/{validation.pk}/result")
    assert error(response) == (404, 404)
    assert response.json()["error"]["description"] == "Resource not found: the validation has not finished."
    EmailValidation.objects.filter(pk=validation.pk).update(status=ValidationStatus.FAILED)
    assert error(api_client.get(f"{URL}/{validation.pk}/result")) == (404, 404)


# ---------------------------------------------------------------------------------------------
# Isolation


def test_another_account_never_sees_changes_or_reads_a_job(api_client, other_client, account, dns_server):
    validation = job_of(account, "valid@example.com", run=True)
    assert other_client.get(URL).json()["data"] == []
    assert other_client.get(URL).json()["meta"]["pagination"]["total"] == 0
    assert error(other_client.get(f"{URL}/{validation.pk}")) == (404, 404)
    assert error(other_client.get(f"{URL}/{validation.pk}/result")) == (404, 404)
    assert error(other_client.delete(f"{URL}/{validation.pk}")) == (404, 404)
    assert EmailValidation.objects.filter(pk=validation.pk).exists()
    assert api_client.get(f"{URL}/{validation.pk}").status_code == 200
