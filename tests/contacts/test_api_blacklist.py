import re

import pytest

from campaigns.models import Campaign, Sending
from contacts.models import BlacklistEntry
from contacts.selectors import blacklist_contains
from contacts.services import blacklist_add

HOST = "http://testserver"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")


def url(type: str) -> str:
    return f"/api/rest/v2/blacklist/{type}"


# The spec's samples ("Blacklist"), {{DASHBOARD_HOST}} replaced by the test server.
SPEC_LIST_RESPONSE = {
    "data": [
        {
            "type": "sms",
            "recipient": "99000000000",
            "isDefinitive": False,
            "sendingId": 123,
            "campaignName": "TEST_CAMPAIGN",
            "createdAt": "2020-01-01T00:00:00+00:00",
        }
    ],
    "meta": {
        "pagination": {
            "total": 500,
            "count": 100,
            "per_page": 100,
            "current_page": 1,
            "total_pages": 5,
            "links": {"next": f"{HOST}/api/rest/v2/blacklist/sms?page=2"},
        }
    },
}
SPEC_PUT_REQUEST = {"recipient": "99000000000"}
SPEC_PUT_RESPONSE = {
    "data": {
        "type": "sms",
        "recipient": "99000000000",
        "isDefinitive": False,
        "campaignName": None,
        "createdAt": "2020-01-01T00:00:00+00:00",
    }
}
SPEC_DELETE_REQUEST = {"recipient": "99000000000"}


def assert_shape(actual, sample, where="$"):
    """Same keys at every level and the same JSON type for every value as the spec's sample."""
    if isinstance(sample, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(sample), f"{where}: {sorted(actual)} != {sorted(sample)}"
        for key, value in sample.items():
            assert_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(sample, list):
        assert isinstance(actual, list), where
        for index, item in enumerate(actual):
            assert_shape(item, sample[0], f"{where}[{index}]")
    elif sample is None:
        assert actual is None, where
    else:
        assert type(actual) is type(sample), f"{where}: {actual!r} is not like {sample!r}"


def assert_error(response, status, description):
    assert response.status_code == status, response.content
    assert response.json() == {"error": {"code": status, "description": description}}


def blacklist_state(account) -> list:
    return list(
        BlacklistEntry.objects.filter(account=account)
        .order_by("id")
        .values_list("id", "type", "recipient", "is_definitive", "sending_id", "created_at")
    )


@pytest.fixture
def sending(account) -> Sending:
    campaign = Campaign.objects.create(account=account, name="TEST_CAMPAIGN")
    return Sending.objects.create(account=account, campaign=campaign, channel="sms")


# ---------------------------------------------------------------------------------------------
# List


def test_list_blacklist_matches_the_spec_sample(api_client, account, sending):
    entry = blacklist_add(account=account, type="sms", recipient="99000000000", sending=sending)

    response = api_client.get(url("sms"))

    assert response.status_code == 200
    body = response.json()
    assert_shape(body["data"], SPEC_LIST_RESPONSE["data"])
    assert body["data"] == [
        {
            "type": "sms",
            "recipient": "99000000000",
            "isDefinitive": False,
            "sendingId": sending.id,
            "campaignName": "TEST_CAMPAIGN",
            "createdAt": body["data"][0]["createdAt"],
        }
    ]
    assert ISO_DATE.match(body["data"][0]["createdAt"])
    assert entry.created_at.strftime("%Y-%m-%dT%H:%M:%S") == body["data"][0]["createdAt"][:19]
    assert body["meta"]["pagination"] == {
        "total": 1,
        "count": 1,
        "per_page": 100,
        "current_page": 1,
        "total_pages": 1,
        "links": {},
    }


def test_list_blacklist_entry_without_sending_has_null_sending_and_campaign(api_client, account):
    blacklist_add(account=account, type="sms", recipient="34666555444", is_definitive=True)

    item = api_client.get(url("sms")).json()["data"][0]

    assert set(item) == set(SPEC_LIST_RESPONSE["data"][0])
    assert (item["sendingId"], item["campaignName"], item["isDefinitive"]) == (None, None, True)


def test_list_blacklist_paginates_with_links_keeping_other_parameters(api_client, account, sending):
    for index in range(3):
        blacklist_add(account=account, type="sms", recipient=f"3466655544{index}", sending=sending)

    body = api_client.get(f"{url('sms')}?limit=2&sendingId={sending.id}").json()

    assert_shape(body, SPEC_LIST_RESPONSE)
    assert [item["recipient"] for item in body["data"]] == ["34666555440", "34666555441"]
    assert body["meta"]["pagination"] == {
        "total": 3,
        "count": 2,
        "per_page": 2,
        "current_page": 1,
        "total_pages": 2,
        "links": {"next": f"{HOST}/api/rest/v2/blacklist/sms?limit=2&sendingId={sending.id}&page=2"},
    }


def test_list_blacklist_shows_only_the_requested_type(api_client, account):
    blacklist_add(account=account, type="sms", recipient="34666555444")
    blacklist_add(account=account, type="voice", recipient="34666555445")
    blacklist_add(account=account, type="mailing", recipient="test@example.com")

    for type, recipient in [("sms", "34666555444"), ("voice", "34666555445"), ("mailing", "test@example.com")]:
        body = api_client.get(url(type)).json()
        assert [item["recipient"] for item in body["data"]] == [recipient]
        assert body["data"][0]["type"] == type


@pytest.mark.parametrize(
    ("type", "query", "expected"),
    [
        ("mailing", "recipient=test%40example.com", ["test@example.com"]),
        ("mailing", "recipient=TEST%40Example.com", ["test@example.com"]),
        ("sms", "recipient=%2B99%20000%20000%20000", ["99000000000"]),
        ("sms", "recipient=0099000000000", ["99000000000"]),
        ("sms", "recipient=34611111111", []),
    ],
)
def test_list_blacklist_filters_by_normalised_recipient(api_client, account, type, query, expected):
    blacklist_add(account=account, type="mailing", recipient="test@example.com")
    blacklist_add(account=account, type="mailing", recipient="other@example.com")
    blacklist_add(account=account, type="sms", recipient="99000000000")
    blacklist_add(account=account, type="sms", recipient="34666555444")

    body = api_client.get(f"{url(type)}?{query}").json()

    assert [item["recipient"] for item in body["data"]] == expected
    assert body["meta"]["pagination"]["total"] == len(expected)


def test_list_blacklist_filters_by_sending(api_client, account, sending):
    blacklist_add(account=account, type="sms", recipient="99000000000", sending=sending)
    blacklist_add(account=account, type="sms", recipient="34666555444")

    body = api_client.get(f"{url('sms')}?sendingId={sending.id}").json()
    assert [item["recipient"] for item in body["data"]] == ["99000000000"]

    none = api_client.get(f"{url('sms')}?sendingId=99999999999999999999").json()
    assert none["data"] == []


@pytest.mark.parametrize(
    ("type", "query", "description"),
    [
        ("sms", "sendingId=abc", "The sendingId must be an integer."),
        ("sms", "sendingId=1.5", "The sendingId must be an integer."),
        ("sms", "limit=0", "The limit must be an integer between 1 and 1000."),
        ("sms", "limit=1001", "The limit must be an integer between 1 and 1000."),
        ("sms", "page=0", "The page must be an integer at least 1."),
    ],
)
def test_list_blacklist_with_invalid_parameters_is_rejected(api_client, account, type, query, description):
    assert_error(api_client.get(f"{url(type)}?{query}"), 422, description)


def test_list_blacklist_never_shows_or_counts_another_accounts_entries(other_client, account):
    blacklist_add(account=account, type="sms", recipient="99000000000")

    body = other_client.get(url("sms")).json()
    assert body["data"] == []
    assert body["meta"]["pagination"]["total"] == 0
    assert other_client.get(f"{url('sms')}?recipient=99000000000").json()["data"] == []


# ---------------------------------------------------------------------------------------------
# Add


def test_add_to_blacklist_from_spec_sample_answers_200_in_the_sample_shape(api_client, account):
    response = api_client.put(url("sms"), SPEC_PUT_REQUEST, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert_shape(body, SPEC_PUT_RESPONSE)
    assert body["data"]["type"] == "sms"
    assert body["data"]["recipient"] == "99000000000"
    assert body["data"]["isDefinitive"] is False
    assert ISO_DATE.match(body["data"]["createdAt"])
    entry = BlacklistEntry.objects.get(account=account)
    assert (entry.type, entry.recipient, entry.is_definitive) == ("sms", "99000000000", False)


@pytest.mark.parametrize(
    ("type", "recipient", "stored"),
    [
        ("mailing", "Test@Example.COM", "test@example.com"),
        ("voice", "+34 666 555 444", "34666555444"),
        ("sms", 34666555444, "34666555444"),
    ],
)
def test_add_to_blacklist_stores_the_normalised_recipient(api_client, account, type, recipient, stored):
    response = api_client.put(url(type), {"recipient": recipient}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["data"]["recipient"] == stored
    assert BlacklistEntry.objects.get(account=account, type=type).recipient == stored


def test_add_to_blacklist_twice_answers_the_existing_entry(api_client, account, sending):
    existing = blacklist_add(account=account, type="sms", recipient="99000000000", sending=sending)

    response = api_client.put(url("sms"), {"recipient": "+99 000 000 000"}, format="json")

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["recipient"] == "99000000000"
    assert data["campaignName"] == "TEST_CAMPAIGN"
    assert BlacklistEntry.objects.filter(account=account).count() == 1
    assert BlacklistEntry.objects.get(account=account).id == existing.id


def test_add_to_blacklist_keeps_accounts_apart(api_client, other_client, account, other_user):
    blacklist_add(account=account, type="sms", recipient="99000000000", is_definitive=True)
    before = blacklist_state(account)

    response = other_client.put(url("sms"), SPEC_PUT_REQUEST, format="json")

    assert response.status_code == 200
    assert response.json()["data"]["isDefinitive"] is False
    assert blacklist_state(account) == before
    assert BlacklistEntry.objects.filter(account=other_user.account).count() == 1


@pytest.mark.parametrize(
    ("type", "body", "description"),
    [
        ("sms", {}, "The recipient field is required."),
        ("sms", {"recipient": None}, "The recipient field is required."),
        ("sms", {"recipient": "  "}, "The recipient field is required."),
        ("sms", {"recipient": ["99000000000"]}, "The recipient must be a string."),
        ("sms", {"recipient": "abc"}, "The recipient must be a valid phone number."),
        ("sms", {"recipient": "12345"}, "The recipient must be a valid phone number."),
        ("voice", {"recipient": "test@example.com"}, "The recipient must be a valid phone number."),
        ("mailing", {"recipient": "99000000000"}, "The recipient must be a valid email address."),
        ("mailing", {"recipient": "a@"}, "The recipient must be a valid email address."),
    ],
)
def test_add_to_blacklist_with_invalid_recipient_is_rejected_and_changes_nothing(
    api_client, account, type, body, description
):
    blacklist_add(account=account, type="sms", recipient="34666555444")
    before = blacklist_state(account)

    response = api_client.put(url(type), body, format="json")

    assert_error(response, 422, description)
    assert blacklist_state(account) == before


@pytest.mark.parametrize("raw", ["[]", '"99000000000"', "{not json"])
def test_add_to_blacklist_with_a_body_that_is_not_a_json_object_answers_125(api_client, account, raw):
    response = api_client.generic("PUT", url("sms"), raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 125
    assert not BlacklistEntry.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("type", ["email", "SMS", "whatsapp", "1"])
def test_blacklist_of_an_unknown_type_is_not_found_and_changes_nothing(api_client, account, method, type):
    blacklist_add(account=account, type="sms", recipient="99000000000")
    before = blacklist_state(account)

    response = getattr(api_client, method)(url(type), SPEC_PUT_REQUEST, format="json")

    assert_error(response, 404, "Resource not found")
    assert blacklist_state(account) == before


# ---------------------------------------------------------------------------------------------
# Remove


def test_remove_from_blacklist_from_spec_sample_answers_204(api_client, account):
    blacklist_add(account=account, type="sms", recipient="99000000000")
    blacklist_add(account=account, type="voice", recipient="99000000000")

    response = api_client.delete(url("sms"), SPEC_DELETE_REQUEST, format="json")

    assert response.status_code == 204
    assert response.content == b""
    assert list(BlacklistEntry.objects.filter(account=account).values_list("type", flat=True)) == ["voice"]


def test_remove_from_blacklist_accepts_any_spelling_of_the_recipient(api_client, account):
    blacklist_add(account=account, type="mailing", recipient="test@example.com")

    response = api_client.delete(url("mailing"), {"recipient": "TEST@example.com"}, format="json")

    assert response.status_code == 204
    assert not BlacklistEntry.objects.exists()


def test_remove_from_blacklist_a_recipient_not_listed_is_not_found(api_client, account):
    blacklist_add(account=account, type="sms", recipient="34666555444")
    before = blacklist_state(account)

    response = api_client.delete(url("sms"), SPEC_DELETE_REQUEST, format="json")

    assert_error(response, 404, "Resource not found")
    assert blacklist_state(account) == before


def test_remove_from_blacklist_cannot_touch_another_accounts_entry(other_client, account):
    blacklist_add(account=account, type="sms", recipient="99000000000")
    before = blacklist_state(account)

    response = other_client.delete(url("sms"), SPEC_DELETE_REQUEST, format="json")

    assert_error(response, 404, "Resource not found")
    assert blacklist_state(account) == before


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({}, "The recipient field is required."),
        ({"recipient": "abc"}, "The recipient must be a valid phone number."),
    ],
)
def test_remove_from_blacklist_with_invalid_recipient_is_rejected(api_client, account, body, description):
    blacklist_add(account=account, type="sms", recipient="99000000000")
    before = blacklist_state(account)

    assert_error(api_client.delete(url("sms"), body, format="json"), 422, description)
    assert blacklist_state(account) == before


def test_remove_from_blacklist_with_a_body_that_is_not_a_json_object_answers_125(api_client, account):
    blacklist_add(account=account, type="sms", recipient="99000000000")
    before = blacklist_state(account)

    response = api_client.generic("DELETE", url("sms"), "[1]", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 125
    assert blacklist_state(account) == before


def test_blacklist_requires_authentication(client, account):
    response = client.put(url("sms"), SPEC_PUT_REQUEST, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 103
    assert not BlacklistEntry.objects.exists()


# ---------------------------------------------------------------------------------------------
# Services used by sends and imports


def test_blacklist_contains_matches_any_spelling_within_the_account(account, other_user):
    blacklist_add(account=account, type="mailing", recipient="Test@Example.com")

    assert blacklist_contains(account=account, type="mailing", recipient="TEST@example.COM")
    assert not blacklist_contains(account=account, type="sms", recipient="test@example.com")
    assert not blacklist_contains(account=other_user.account, type="mailing", recipient="test@example.com")
    assert not blacklist_contains(account=account, type="mailing", recipient="not an email")


def test_blacklist_add_can_make_an_entry_definitive_but_never_temporary(account):
    entry = blacklist_add(account=account, type="sms", recipient="99000000000")
    assert not entry.is_definitive

    assert blacklist_add(account=account, type="sms", recipient="99000000000", is_definitive=True).is_definitive
    assert blacklist_add(account=account, type="sms", recipient="99000000000").is_definitive
    assert BlacklistEntry.objects.get(id=entry.id).is_definitive
