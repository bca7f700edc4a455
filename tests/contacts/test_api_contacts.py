import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact, CustomField, Group, Membership
from contacts.services import CustomFieldInput, contact_create, group_create

HOST = "http://testserver"
CONTACTS_URL = "/api/rest/contacts"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")

# The spec's samples ("Databases"), {{DASHBOARD_HOST}} replaced by the test server.
SPEC_LIST_RESPONSE = {
    "data": [
        {
            "id": 1,
            "email": "email@example.com",
            "phone": "34666666666",
            "countryIso": "ES",
            "landline": "900222222",
            "name": "Name",
            "surname": "Last name",
            "createdAt": "2018-03-13T14:32:25+00:00",
            "updatedAt": "2018-07-04T13:57:09+00:00",
            "customFields": {"data": [{"key": "color", "type": "string", "value": "green"}]},
            "groups": {"data": [{"id": 1, "name": "My Contact List"}]},
        }
    ],
    "meta": {
        "pagination": {
            "total": 500,
            "count": 100,
            "per_page": 100,
            "current_page": 1,
            "total_pages": 5,
            "links": {"next": f"{HOST}/api/rest/contacts?include=customFields%2Cgroups&page=2"},
        }
    },
}
SPEC_SHOW_RESPONSE = {"data": SPEC_LIST_RESPONSE["data"][0]}
SPEC_WRITE_REQUEST = {
    "email": "new.contact@example.com",
    "phone": "3466666666",
    "countryIso": "ES",
    "groupsNames": ["My contact list"],
    "customFields": [{"key": "company", "value": "ACME inc."}],
}
SPEC_WRITE_RESPONSE = {
    "data": {
        "id": 1,
        "email": "new.contact@example.com",
        "phone": "3466666666",
        "countryIso": "ES",
        "landline": None,
        "name": None,
        "surname": None,
        "createdAt": "2018-03-13T14:32:25+00:00",
        "updatedAt": "2018-03-13T14:32:25+00:00",
        "links": {"self": f"{HOST}/api/rest/contacts/1"},
    }
}
SPEC_ERROR_RESPONSE = {"error": {"code": 422, "description": "The email field is required."}}
# The sample's phone, 3466666666, is one digit short of a Spanish number, so the write samples
# are replayed with a valid one.
VALID_WRITE_REQUEST = {**SPEC_WRITE_REQUEST, "phone": "666555444"}


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
    assert response.json() == {"error": {"code": status if status in (404, 422) else 125, "description": description}}


def account_state(account) -> dict:
    """Everything a contact write may touch, to prove a rejected request changed nothing."""
    return {
        "contacts": list(
            Contact.objects.filter(account=account)
            .order_by("id")
            .values(
                "id",
                "email",
                "phone",
                "landline",
                "country_iso",
                "name",
                "surname",
                "external_id",
                "custom_fields",
                "updated_at",
            )
        ),
        "groups": list(Group.objects.filter(account=account).order_by("id").values_list("id", "name")),
        "memberships": sorted(
            Membership.objects.filter(contact__account=account).values_list("contact_id", "group_id")
        ),
        "custom_fields": list(CustomField.objects.filter(account=account).order_by("key").values_list("key", "type")),
    }


def make_contact(account, **fields) -> Contact:
    defaults = {"groups_names": ["My Contact List"]}
    return contact_create(account=account, **{**defaults, **fields})


@pytest.fixture
def full_contact(account) -> Contact:
    """A contact with every field filled, like the spec's list sample."""
    return make_contact(
        account,
        email="email@example.com",
        phone="666666666",
        country_iso="ES",
        landline="900222222",
        name="Name",
        surname="Last name",
        external_id="EXT1",
        custom_fields=[CustomFieldInput(key="color", value="green")],
    )


# ---------------------------------------------------------------------------------------------
# Create


def test_create_contact_from_spec_sample_answers_201_in_the_sample_shape(api_client, account):
    response = api_client.post(CONTACTS_URL, VALID_WRITE_REQUEST, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert_shape(body, SPEC_WRITE_RESPONSE)
    contact = Contact.objects.get(account=account)
    assert body["data"]["id"] == contact.id
    assert body["data"]["email"] == "new.contact@example.com"
    assert body["data"]["phone"] == "34666555444"
    assert body["data"]["countryIso"] == "ES"
    assert body["data"]["links"] == {"self": f"{HOST}/api/rest/contacts/{contact.id}"}
    assert ISO_DATE.match(body["data"]["createdAt"]) and ISO_DATE.match(body["data"]["updatedAt"])
    assert [group.name for group in contact.groups.all()] == ["My contact list"]
    assert contact.custom_fields == {"company": "ACME inc."}
    assert list(CustomField.objects.filter(account=account).values_list("key", "type")) == [("company", "string")]


def test_create_contact_with_group_ids_and_every_field(api_client, account):
    group = group_create(account=account, name="Customers")
    body = {
        "landline": "900 222 222",
        "countryIso": "es",
        "name": "Ana",
        "surname": "García López",
        "externalId": "EXT1",
        "groupsIds": [group.id],
    }
    response = api_client.post(CONTACTS_URL, body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert (data["email"], data["phone"], data["landline"], data["countryIso"]) == (None, None, "34900222222", "ES")
    assert (data["name"], data["surname"]) == ("Ana", "García López")
    contact = Contact.objects.get(id=data["id"])
    assert contact.external_id == "EXT1"
    assert list(contact.groups.all()) == [group]


def test_create_contact_reuses_existing_groups_by_name_and_combines_ids_and_names(api_client, account):
    existing = group_create(account=account, name="My contact list")
    other = group_create(account=account, name="Other")
    response = api_client.post(
        CONTACTS_URL,
        {"email": "a@example.com", "groupsIds": [other.id], "groupsNames": ["My contact list", "New one"]},
        format="json",
    )

    assert response.status_code == 201, response.content
    contact = Contact.objects.get(id=response.json()["data"]["id"])
    assert sorted(contact.groups.values_list("name", flat=True)) == ["My contact list", "New one", "Other"]
    assert Group.objects.filter(account=account).count() == 3
    assert existing in contact.groups.all()


def test_create_contact_types_custom_fields_and_keeps_known_types(api_client, account):
    CustomField.objects.create(account=account, key="birthday", type="date")
    body = {
        "email": "a@example.com",
        "groupsNames": ["G"],
        "customFields": [
            {"key": "birthday", "value": "1990-05-17"},
            {"key": "balance", "type": "decimal", "value": "12.50"},
            {"key": "color", "type": "string", "value": "green"},
        ],
    }
    response = api_client.post(CONTACTS_URL, body, format="json")

    assert response.status_code == 201, response.content
    contact = Contact.objects.get(id=response.json()["data"]["id"])
    assert contact.custom_fields == {"birthday": "1990-05-17", "balance": "12.50", "color": "green"}
    assert dict(CustomField.objects.filter(account=account).values_list("key", "type")) == {
        "birthday": "date",
        "balance": "decimal",
        "color": "string",
    }


def test_create_contact_with_an_email_used_by_another_account(api_client, other_user, account):
    make_contact(other_user.account, email="shared@example.com")
    response = api_client.post(CONTACTS_URL, {"email": "shared@example.com", "groupsNames": ["G"]}, format="json")
    assert response.status_code == 201, response.content


INVALID_CREATE_BODIES = [
    ({}, "The email field is required when none of phone / landline are present."),
    ({"groupsNames": ["G"]}, "The email field is required when none of phone / landline are present."),
    (
        {"email": "", "phone": None, "groupsNames": ["G"]},
        "The email field is required when none of phone / landline are present.",
    ),
    ({"email": "a@example.com"}, "The groupsIds field is required when groupsNames is not present."),
    (
        {"email": "a@example.com", "groupsIds": [], "groupsNames": []},
        "The groupsIds field is required when groupsNames is not present.",
    ),
    ({"phone": "666555444", "groupsNames": ["G"]}, "The countryIso field is required when phone is present."),
    ({"landline": "900222222", "groupsNames": ["G"]}, "The countryIso field is required when landline is present."),
    (
        {"phone": "666555444", "landline": "900222222", "groupsNames": ["G"]},
        "The countryIso field is required when phone / landline is present.",
    ),
    ({"phone": "666555444", "countryIso": "XX", "groupsNames": ["G"]}, "The selected countryIso is invalid."),
    ({"phone": "666555444", "countryIso": "ESP", "groupsNames": ["G"]}, "The selected countryIso is invalid."),
    ({"email": "a@example.com", "countryIso": 12, "groupsNames": ["G"]}, "The selected countryIso is invalid."),
    ({"phone": "abc", "countryIso": "ES", "groupsNames": ["G"]}, "The phone must be a valid phone number."),
    # The spec's own sample number is one digit short of a Spanish mobile.
    (SPEC_WRITE_REQUEST, "The phone must be a valid phone number."),
    ({"landline": "12", "countryIso": "ES", "groupsNames": ["G"]}, "The landline must be a valid phone number."),
    ({"email": "not-an-email", "groupsNames": ["G"]}, "The email must be a valid email address."),
    ({"email": ["a@example.com"], "groupsNames": ["G"]}, "The email must be a string."),
    (
        {"email": "a@example.com", "name": "x" * 256, "groupsNames": ["G"]},
        "The name may not be greater than 255 characters.",
    ),
    ({"email": "a@example.com", "surname": {"a": 1}, "groupsNames": ["G"]}, "The surname must be a string."),
    ({"email": "a@example.com", "externalId": True, "groupsNames": ["G"]}, "The externalId must be a string."),
    ({"email": "a@example.com", "groupsIds": "1"}, "The groupsIds must be an array."),
    ({"email": "a@example.com", "groupsIds": ["x"]}, "The groupsIds.0 must be an integer."),
    ({"email": "a@example.com", "groupsIds": [999999]}, "The selected groupsIds.0 is invalid."),
    ({"email": "a@example.com", "groupsIds": [10**20]}, "The selected groupsIds.0 is invalid."),
    ({"email": "a@example.com", "groupsIds": [-1]}, "The selected groupsIds.0 is invalid."),
    ({"email": "a@example.com", "groupsNames": [""]}, "The groupsNames.0 must be a non-empty string."),
    (
        {"email": "a@example.com", "groupsNames": ["G", "x" * 256]},
        "The groupsNames.1 may not be greater than 255 characters.",
    ),
    ({"email": "a@example.com", "groupsNames": ["G"], "customFields": "x"}, "The customFields must be an array."),
    ({"email": "a@example.com", "groupsNames": ["G"], "customFields": ["x"]}, "The customFields.0 must be an object."),
    (
        {"email": "a@example.com", "groupsNames": ["G"], "customFields": [{"value": "a"}]},
        "The customFields.0.key field is required.",
    ),
    (
        {"email": "a@example.com", "groupsNames": ["G"], "customFields": [{"key": 5, "value": "a"}]},
        "The customFields.0.key must be a string.",
    ),
    (
        {"email": "a@example.com", "groupsNames": ["G"], "customFields": [{"key": "bad key", "value": "a"}]},
        "The customFields.0.key format is invalid.",
    ),
    (
        {"email": "a@example.com", "groupsNames": ["G"], "customFields": [{"key": "k", "type": "color", "value": "a"}]},
        "The selected customFields.0.type is invalid.",
    ),
    (
        {"email": "a@example.com", "groupsNames": ["G"], "customFields": [{"key": "k"}]},
        "The customFields.0.value field is required.",
    ),
    (
        {
            "email": "a@example.com",
            "groupsNames": ["G"],
            "customFields": [{"key": "ok", "value": "a"}, {"key": "k", "type": "decimal", "value": "abc"}],
        },
        "The customFields.1.value must be a decimal number.",
    ),
    (
        {
            "email": "a@example.com",
            "groupsNames": ["G"],
            "customFields": [{"key": "k", "type": "date", "value": "31/01/2020"}],
        },
        "The customFields.0.value must be a date in ISO 8601 format.",
    ),
    (
        {"email": "a@example.com", "groupsNames": ["G"], "customFields": [{"key": "k", "value": {"a": 1}}]},
        "The customFields.0.value must be a string, number or date.",
    ),
]


@pytest.mark.parametrize(("body", "description"), INVALID_CREATE_BODIES)
def test_create_contact_with_invalid_data_is_rejected_and_changes_nothing(api_client, account, body, description):
    make_contact(account, email="existing@example.com")
    before = account_state(account)

    response = api_client.post(CONTACTS_URL, body, format="json")

    assert_error(response, 422, description)
    assert_shape(response.json(), SPEC_ERROR_RESPONSE)
    assert account_state(account) == before


def test_create_contact_with_a_group_of_another_account_is_rejected_and_changes_nothing(
    api_client, account, other_user
):
    foreign = group_create(account=other_user.account, name="Theirs")
    mine = group_create(account=account, name="Mine")
    before = account_state(account)

    response = api_client.post(
        CONTACTS_URL, {"email": "a@example.com", "groupsIds": [mine.id, foreign.id]}, format="json"
    )

    assert_error(response, 422, "The selected groupsIds.1 is invalid.")
    assert account_state(account) == before
    assert not Membership.objects.filter(group=foreign).exists()


def test_create_contact_with_a_custom_field_of_another_type_is_rejected(api_client, account):
    CustomField.objects.create(account=account, key="birthday", type="date")
    before = account_state(account)
    body = {
        "email": "a@example.com",
        "groupsNames": ["G"],
        "customFields": [{"key": "birthday", "type": "string", "value": "x"}],
    }

    response = api_client.post(CONTACTS_URL, body, format="json")

    assert_error(response, 422, "The customFields.0.type must be date.")
    assert account_state(account) == before


def test_create_contact_rejected_late_does_not_leave_the_new_groups_or_field_definitions(api_client, account):
    before = account_state(account)
    body = {
        "email": "a@example.com",
        "groupsNames": ["Brand new"],
        "customFields": [{"key": "fresh", "value": "x"}, {"key": "amount", "type": "decimal", "value": "much"}],
    }

    response = api_client.post(CONTACTS_URL, body, format="json")

    assert_error(response, 422, "The customFields.1.value must be a decimal number.")
    assert account_state(account) == before
    assert not Group.objects.filter(name="Brand new").exists()


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"email": "EXISTING@example.com", "groupsNames": ["G"]}, "The email has already been taken."),
        ({"phone": "+34 666 555 444", "countryIso": "FR", "groupsNames": ["G"]}, "The phone has already been taken."),
    ],
)
def test_create_contact_with_a_taken_email_or_phone_is_rejected_and_changes_nothing(
    api_client, account, body, description
):
    make_contact(account, email="existing@example.com", phone="666555444", country_iso="ES")
    before = account_state(account)

    response = api_client.post(CONTACTS_URL, body, format="json")

    assert_error(response, 422, description)
    assert account_state(account) == before


def test_create_contact_losing_a_race_on_the_email_answers_422_not_500(api_client, account, monkeypatch):
    make_contact(account, email="existing@example.com")
    before = account_state(account)
    # Make the up-front uniqueness check miss the existing row, as a concurrent insert would.
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)

    response = api_client.post(CONTACTS_URL, {"email": "existing@example.com", "groupsNames": ["Race"]}, format="json")

    assert_error(response, 422, "The email has already been taken.")
    monkeypatch.undo()
    assert account_state(account) == before


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "null", "42"])
def test_create_contact_with_a_body_that_is_not_a_json_object_answers_125(api_client, account, raw):
    response = api_client.generic("POST", CONTACTS_URL, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 125
    assert not Contact.objects.exists()


def test_create_contact_with_malformed_json_answers_125(api_client, account):
    response = api_client.generic("POST", CONTACTS_URL, '{"email": ', content_type="application/json")

    assert_error(response, 400, "Invalid JSON")
    assert not Contact.objects.exists()


def test_contacts_require_authentication(client, account):
    response = client.get(CONTACTS_URL)

    assert response.status_code == 401
    assert response.json() == {"error": {"code": 103, "description": "Username or password unknown"}}


# ---------------------------------------------------------------------------------------------
# Show


def test_show_contact_with_includes_matches_the_spec_sample(api_client, full_contact):
    response = api_client.get(f"{CONTACTS_URL}/{full_contact.id}?include=customFields,groups")

    assert response.status_code == 200
    body = response.json()
    assert_shape(body, SPEC_SHOW_RESPONSE)
    data = body["data"]
    group = full_contact.groups.get()
    assert data["id"] == full_contact.id
    assert (data["email"], data["phone"], data["landline"], data["countryIso"]) == (
        "email@example.com",
        "34666666666",
        "34900222222",
        "ES",
    )
    assert (data["name"], data["surname"]) == ("Name", "Last name")
    assert data["customFields"] == {"data": [{"key": "color", "type": "string", "value": "green"}]}
    assert data["groups"] == {"data": [{"id": group.id, "name": "My Contact List"}]}
    assert ISO_DATE.match(data["createdAt"]) and ISO_DATE.match(data["updatedAt"])


@pytest.mark.parametrize(
    ("include", "extra_keys"),
    [
        ("", set()),
        ("?include=groups", {"groups"}),
        ("?include=customFields", {"customFields"}),
        ("?include=groups,", {"groups"}),
    ],
)
def test_show_contact_includes_only_what_was_asked(api_client, full_contact, include, extra_keys):
    response = api_client.get(f"{CONTACTS_URL}/{full_contact.id}{include}")

    base_keys = set(SPEC_SHOW_RESPONSE["data"]) - {"customFields", "groups"}
    assert response.status_code == 200
    assert set(response.json()["data"]) == base_keys | extra_keys


def test_show_contact_with_an_unknown_include_is_rejected(api_client, full_contact):
    response = api_client.get(f"{CONTACTS_URL}/{full_contact.id}?include=groups,friends")
    assert_error(response, 422, "The selected include is invalid.")


def test_show_contact_of_another_account_is_not_found(other_client, full_contact):
    response = other_client.get(f"{CONTACTS_URL}/{full_contact.id}")
    assert_error(response, 404, "Resource not found")


@pytest.mark.parametrize("contact_id", ["999999", "abc", "1.5", "-1", "99999999999999999999999"])
def test_show_contact_with_an_unknown_or_malformed_id_is_not_found(api_client, account, contact_id):
    response = api_client.get(f"{CONTACTS_URL}/{contact_id}")
    assert_error(response, 404, "Resource not found")


# ---------------------------------------------------------------------------------------------
# List


def test_list_contacts_matches_the_spec_sample_with_pagination(api_client, account, full_contact):
    make_contact(
        account,
        email="second@example.com",
        name="Second",
        surname="S",
        phone="666000111",
        country_iso="ES",
        landline="900222223",
    )
    make_contact(
        account,
        email="third@example.com",
        name="Third",
        surname="T",
        phone="666000222",
        country_iso="ES",
        landline="900222224",
    )

    response = api_client.get(f"{CONTACTS_URL}?include=customFields,groups&limit=2")

    assert response.status_code == 200
    body = response.json()
    assert_shape(body, SPEC_LIST_RESPONSE)
    assert [item["id"] for item in body["data"]] == sorted(item["id"] for item in body["data"])
    assert body["data"][0]["id"] == full_contact.id
    assert body["meta"]["pagination"] == {
        "total": 3,
        "count": 2,
        "per_page": 2,
        "current_page": 1,
        "total_pages": 2,
        "links": {"next": f"{HOST}/api/rest/contacts?include=customFields%2Cgroups&limit=2&page=2"},
    }

    second_page = api_client.get(body["meta"]["pagination"]["links"]["next"]).json()
    assert [item["email"] for item in second_page["data"]] == ["third@example.com"]
    assert second_page["meta"]["pagination"]["count"] == 1
    assert second_page["meta"]["pagination"]["current_page"] == 2
    assert "next" not in second_page["meta"]["pagination"]["links"]
    assert second_page["meta"]["pagination"]["links"]["previous"].endswith("limit=2&page=1")


def test_list_contacts_defaults_to_100_per_page_without_includes(api_client, account):
    for index in range(101):
        Contact.objects.create(account=account, email=f"c{index}@example.com")

    body = api_client.get(CONTACTS_URL).json()

    assert len(body["data"]) == 100
    assert set(body["data"][0]) == set(SPEC_SHOW_RESPONSE["data"]) - {"customFields", "groups"}
    assert body["meta"]["pagination"]["per_page"] == 100
    assert body["meta"]["pagination"]["total_pages"] == 2
    assert body["meta"]["pagination"]["links"]["next"] == f"{HOST}/api/rest/contacts?page=2"


def test_list_contacts_accepts_the_maximum_limit(api_client, full_contact):
    body = api_client.get(f"{CONTACTS_URL}?limit=1000").json()
    assert body["meta"]["pagination"]["per_page"] == 1000


def test_list_contacts_past_the_last_page_is_empty(api_client, full_contact):
    body = api_client.get(f"{CONTACTS_URL}?page=3").json()
    assert body["data"] == []
    assert body["meta"]["pagination"]["total"] == 1


@pytest.mark.parametrize(
    ("query", "description"),
    [
        ("limit=0", "The limit must be an integer between 1 and 1000."),
        ("limit=1001", "The limit must be an integer between 1 and 1000."),
        ("limit=abc", "The limit must be an integer between 1 and 1000."),
        ("page=0", "The page must be an integer at least 1."),
        ("page=x", "The page must be an integer at least 1."),
        ("include=notes", "The selected include is invalid."),
    ],
)
def test_list_contacts_with_invalid_parameters_is_rejected(api_client, full_contact, query, description):
    response = api_client.get(f"{CONTACTS_URL}?{query}")
    assert_error(response, 422, description)


@pytest.mark.parametrize(
    "query",
    [
        "email=EMAIL@example.com",
        "phone=%2B34%20666%20666%20666",
        "phone=34666666666",
        "landline=34900222222",
        "landline=900222222",
        "phone=666666666&countryIso=ES",
        "countryIso=es",
        "externalId=EXT1",
        "email=email@example.com&countryIso=ES",
    ],
)
def test_list_contacts_filters_on_the_normalised_value(api_client, account, full_contact, query):
    Contact.objects.create(
        account=account,
        email="other@example.com",
        phone="447400123456",
        landline="441632960000",
        country_iso="GB",
        external_id="EXT2",
    )

    body = api_client.get(f"{CONTACTS_URL}?{query}").json()

    assert [item["id"] for item in body["data"]] == [full_contact.id]
    assert body["meta"]["pagination"]["total"] == 1


def test_list_contacts_never_shows_or_counts_another_accounts_contacts(other_client, account, full_contact):
    body = other_client.get(f"{CONTACTS_URL}?include=groups").json()
    assert body["data"] == []
    assert body["meta"]["pagination"]["total"] == 0

    filtered = other_client.get(f"{CONTACTS_URL}?email=email@example.com").json()
    assert filtered["meta"]["pagination"]["total"] == 0


def test_list_contacts_with_includes_costs_the_same_queries_for_2_or_20_contacts(api_client, account):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get(f"{CONTACTS_URL}?include=customFields,groups")
        assert response.status_code == 200
        return len(queries)

    for index in range(2):
        make_contact(account, email=f"a{index}@example.com", custom_fields=[CustomFieldInput(key="k", value="v")])
    count_queries()  # the first call also records the credential's last use
    few = count_queries()
    for index in range(18):
        make_contact(
            account,
            email=f"b{index}@example.com",
            groups_names=[f"G{index}", "Shared"],
            custom_fields=[CustomFieldInput(key=f"k{index}", value="v")],
        )
    many = count_queries()

    assert many == few


# ---------------------------------------------------------------------------------------------
# Update


def test_update_contact_from_spec_sample_answers_200_in_the_sample_shape(api_client, account, full_contact):
    response = api_client.put(f"{CONTACTS_URL}/{full_contact.id}", VALID_WRITE_REQUEST, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body["data"]) == set(SPEC_WRITE_RESPONSE["data"])
    assert body["data"]["links"] == {"self": f"{HOST}/api/rest/contacts/{full_contact.id}"}
    assert (body["data"]["email"], body["data"]["phone"]) == ("new.contact@example.com", "34666555444")
    full_contact.refresh_from_db()
    assert full_contact.email == "new.contact@example.com"
    assert full_contact.phone == "34666555444"
    assert [group.name for group in full_contact.groups.all()] == ["My contact list"]
    assert full_contact.custom_fields == {"color": "green", "company": "ACME inc."}


def test_update_contact_changes_only_the_fields_sent(api_client, account, full_contact):
    groups_before = list(full_contact.groups.all())

    response = api_client.put(f"{CONTACTS_URL}/{full_contact.id}", {"name": "Renamed"}, format="json")

    assert response.status_code == 200, response.content
    full_contact.refresh_from_db()
    assert full_contact.name == "Renamed"
    assert (full_contact.email, full_contact.phone, full_contact.landline, full_contact.surname) == (
        "email@example.com",
        "34666666666",
        "34900222222",
        "Last name",
    )
    assert list(full_contact.groups.all()) == groups_before
    assert full_contact.custom_fields == {"color": "green"}


def test_update_contact_with_null_clears_fields(api_client, full_contact):
    response = api_client.put(
        f"{CONTACTS_URL}/{full_contact.id}", {"name": None, "surname": None, "email": None}, format="json"
    )

    assert response.status_code == 200, response.content
    full_contact.refresh_from_db()
    assert (full_contact.name, full_contact.surname, full_contact.email) == (None, None, None)
    assert full_contact.phone == "34666666666"


def test_update_contact_phone_uses_the_new_country(api_client, full_contact):
    response = api_client.put(
        f"{CONTACTS_URL}/{full_contact.id}", {"phone": "07400 123456", "countryIso": "GB"}, format="json"
    )

    assert response.status_code == 200, response.content
    full_contact.refresh_from_db()
    assert (full_contact.phone, full_contact.country_iso) == ("447400123456", "GB")


def test_update_contact_phone_uses_the_stored_country(api_client, full_contact):
    response = api_client.put(f"{CONTACTS_URL}/{full_contact.id}", {"phone": "611 222 333"}, format="json")

    assert response.status_code == 200, response.content
    full_contact.refresh_from_db()
    assert full_contact.phone == "34611222333"


def test_update_contact_groups_replace_the_membership(api_client, account, full_contact):
    other = group_create(account=account, name="Other")

    by_id = api_client.put(f"{CONTACTS_URL}/{full_contact.id}", {"groupsIds": [other.id]}, format="json")
    assert by_id.status_code == 200, by_id.content
    assert list(full_contact.groups.all()) == [other]

    by_name = api_client.put(f"{CONTACTS_URL}/{full_contact.id}", {"groupsNames": ["Fresh"]}, format="json")
    assert by_name.status_code == 200, by_name.content
    assert [group.name for group in full_contact.groups.all()] == ["Fresh"]

    emptied = api_client.put(f"{CONTACTS_URL}/{full_contact.id}", {"groupsIds": []}, format="json")
    assert emptied.status_code == 200, emptied.content
    assert not full_contact.groups.exists()
    assert Group.objects.filter(account=account).count() == 3


def test_update_contact_custom_fields_upsert_and_keep_the_others(api_client, full_contact):
    response = api_client.put(
        f"{CONTACTS_URL}/{full_contact.id}",
        {"customFields": [{"key": "color", "value": "blue"}, {"key": "size", "type": "decimal", "value": 42}]},
        format="json",
    )

    assert response.status_code == 200, response.content
    full_contact.refresh_from_db()
    assert full_contact.custom_fields == {"color": "blue", "size": "42"}


def test_update_contact_with_its_own_email_is_accepted(api_client, full_contact):
    response = api_client.put(f"{CONTACTS_URL}/{full_contact.id}", {"email": "Email@Example.com"}, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (
            {"email": None, "phone": None, "landline": None},
            "The email field is required when none of phone / landline are present.",
        ),
        ({"countryIso": None}, "The countryIso field is required when phone / landline is present."),
        ({"countryIso": "XX"}, "The selected countryIso is invalid."),
        ({"phone": "12"}, "The phone must be a valid phone number."),
        ({"email": "nope"}, "The email must be a valid email address."),
        ({"email": "taken@example.com"}, "The email has already been taken."),
        ({"phone": "+34 611 000 999"}, "The phone has already been taken."),
        ({"groupsIds": [999999]}, "The selected groupsIds.0 is invalid."),
        (
            {"groupsNames": ["New"], "customFields": [{"key": "color", "type": "date", "value": "2020-01-01"}]},
            "The customFields.0.type must be string.",
        ),
        ({"name": ["x"]}, "The name must be a string."),
    ],
)
def test_update_contact_with_invalid_data_is_rejected_and_changes_nothing(
    api_client, account, full_contact, body, description
):
    make_contact(account, email="taken@example.com", phone="611000999", country_iso="ES")
    before = account_state(account)

    response = api_client.put(f"{CONTACTS_URL}/{full_contact.id}", body, format="json")

    assert_error(response, 422, description)
    assert account_state(account) == before


def test_update_contact_leaving_it_without_any_recipient_is_rejected(api_client, account):
    contact = make_contact(account, email="only@example.com")
    before = account_state(account)

    response = api_client.put(f"{CONTACTS_URL}/{contact.id}", {"email": None}, format="json")

    assert_error(response, 422, "The email field is required when none of phone / landline are present.")
    assert account_state(account) == before


def test_update_contact_with_a_body_that_is_not_an_object_answers_125(api_client, account, full_contact):
    before = account_state(account)
    response = api_client.generic("PUT", f"{CONTACTS_URL}/{full_contact.id}", "[]", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 125
    assert account_state(account) == before


def test_update_contact_of_another_account_is_not_found_and_unchanged(other_client, account, full_contact):
    before = account_state(account)

    response = other_client.put(f"{CONTACTS_URL}/{full_contact.id}", {"name": "Hijacked"}, format="json")

    assert_error(response, 404, "Resource not found")
    assert account_state(account) == before


def test_update_contact_cannot_use_a_group_of_another_account(api_client, account, other_user, full_contact):
    foreign = group_create(account=other_user.account, name="Theirs")
    before = account_state(account)

    response = api_client.put(f"{CONTACTS_URL}/{full_contact.id}", {"groupsIds": [foreign.id]}, format="json")

    assert_error(response, 422, "The selected groupsIds.0 is invalid.")
    assert account_state(account) == before


# ---------------------------------------------------------------------------------------------
# Delete


def test_delete_contact_answers_204_and_keeps_its_groups(api_client, account, full_contact):
    group = full_contact.groups.get()

    response = api_client.delete(f"{CONTACTS_URL}/{full_contact.id}")

    assert response.status_code == 204
    assert response.content == b""
    assert not Contact.objects.filter(id=full_contact.id).exists()
    assert Group.objects.filter(id=group.id).exists()
    assert_error(api_client.delete(f"{CONTACTS_URL}/{full_contact.id}"), 404, "Resource not found")


def test_delete_contact_of_another_account_is_not_found_and_keeps_it(other_client, account, full_contact):
    before = account_state(account)

    response = other_client.delete(f"{CONTACTS_URL}/{full_contact.id}")

    assert_error(response, 404, "Resource not found")
    assert account_state(account) == before


# ---------------------------------------------------------------------------------------------
# OpenAPI schema


def test_openapi_schema_documents_the_contacts_groups_and_blacklist_endpoints(client, db):
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/rest/contacts"]) >= {"get", "post"}
    assert set(paths["/api/rest/contacts/{contact_id}"]) >= {"get", "put", "delete"}
    assert set(paths["/api/rest/groups"]) >= {"get", "post"}
    assert set(paths["/api/rest/groups/{group_id}"]) >= {"get", "put", "delete"}
    assert set(paths["/api/rest/v2/blacklist/{type}"]) >= {"get", "put", "delete"}


def test_contacts_answer_405_to_an_unsupported_method(api_client, full_contact):
    response = api_client.patch(f"{CONTACTS_URL}/{full_contact.id}", {"name": "x"}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == 405


# ---------------------------------------------------------------------------------------------
# Services reused by imports and the admin


def test_contact_create_without_groups_when_the_caller_does_not_require_them(account):
    contact = contact_create(account=account, phone="666555444", country_iso="es", groups_required=False)

    assert (contact.phone, contact.country_iso) == ("34666555444", "ES")
    assert not contact.groups.exists()


def test_contact_create_rejects_with_a_validation_error_in_api_wording(account):
    with pytest.raises(ValidationError) as raised:
        contact_create(account=account, phone="12", country_iso="ES", groups_required=False)
    assert raised.value.messages == ["The phone must be a valid phone number."]
    assert not Contact.objects.exists()
