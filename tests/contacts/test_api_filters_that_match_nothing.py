"""A list filter whose value cannot match anything (a phone number on the mailing blacklist, an email
on the SMS one, a contact phone that is not a number, an unknown country) answers an empty page with
its pagination, exactly like a well-formed value that matches nothing; never an error."""

import pytest

from contacts.models import Contact
from contacts.services import blacklist_add

pytestmark = pytest.mark.django_db

EMPTY_PAGE = {"total": 0, "count": 0, "per_page": 100, "current_page": 1, "total_pages": 1, "links": {}}


def assert_empty_page(response) -> None:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["data"] == []
    assert body["meta"]["pagination"] == EMPTY_PAGE


@pytest.fixture
def listed(account):
    blacklist_add(account=account, type="mailing", recipient="test@example.com")
    blacklist_add(account=account, type="sms", recipient="34666555444")
    blacklist_add(account=account, type="voice", recipient="34666555444")


@pytest.mark.parametrize(
    ("type", "recipient"),
    [
        ("mailing", "34666555444"),
        ("mailing", "+34 666 555 444"),
        ("mailing", "not-an-email"),
        ("mailing", "a@"),
        ("sms", "test@example.com"),
        ("sms", "abc"),
        ("sms", "123"),
        ("voice", "test@example.com"),
        ("sms", "9" * 400),
    ],
)
def test_blacklist_filtered_by_a_recipient_that_cannot_be_on_it_answers_an_empty_page(
    api_client, listed, type, recipient
):
    assert_empty_page(api_client.get(f"/api/rest/v2/blacklist/{type}", {"recipient": recipient}))


def test_the_same_filters_still_find_the_entries_they_match(api_client, listed):
    mailing = api_client.get("/api/rest/v2/blacklist/mailing", {"recipient": "TEST@example.com"}).json()
    sms = api_client.get("/api/rest/v2/blacklist/sms", {"recipient": "+34 666 555 444"}).json()

    assert [entry["recipient"] for entry in mailing["data"]] == ["test@example.com"]
    assert [entry["recipient"] for entry in sms["data"]] == ["34666555444"]


def test_blacklist_filter_that_cannot_match_combined_with_sending_id_is_still_empty(api_client, listed):
    assert_empty_page(api_client.get("/api/rest/v2/blacklist/sms", {"recipient": "x@y.z", "sendingId": "1"}))


@pytest.mark.parametrize(
    "query",
    [
        {"phone": "abc"},
        {"phone": "123"},
        {"landline": "not a number"},
        {"countryIso": "XX"},
        {"countryIso": "ESP"},
        {"phone": "666555444", "countryIso": "XX"},
        {"email": "34666555444"},
    ],
)
def test_contact_list_filtered_by_a_value_no_contact_can_have_answers_an_empty_page(api_client, account, query):
    Contact.objects.create(account=account, email="test@example.com", phone="34666555444", country_iso="ES")

    assert_empty_page(api_client.get("/api/rest/contacts", query))


def test_contact_list_filters_that_match_still_find_the_contact(api_client, account):
    contact = Contact.objects.create(account=account, email="test@example.com", phone="34666555444", country_iso="ES")

    for query in ({"phone": "666555444", "countryIso": "ES"}, {"countryIso": "es"}, {"email": "TEST@example.com"}):
        assert [item["id"] for item in api_client.get("/api/rest/contacts", query).json()["data"]] == [contact.id]


@pytest.mark.parametrize(
    ("query", "description"),
    [
        ({"sendingId": "abc"}, "The sendingId must be an integer."),
        ({"limit": "0"}, "The limit must be an integer between 1 and 1000."),
    ],
)
def test_malformed_typed_parameters_are_still_refused(api_client, listed, query, description):
    response = api_client.get("/api/rest/v2/blacklist/sms", query)

    assert response.status_code == 422
    assert response.json()["error"]["description"] == description
