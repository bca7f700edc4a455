import pytest

from contacts.models import Contact, Group, Membership
from contacts.services import contact_create, group_create

HOST = "http://testserver"
GROUPS_URL = "/api/rest/groups"

# The spec's samples ("Groups"), {{DASHBOARD_HOST}} replaced by the test server.
SPEC_LIST_RESPONSE = {
    "data": [{"id": 1, "name": "My contact list"}],
    "meta": {
        "pagination": {
            "total": 500,
            "count": 100,
            "per_page": 100,
            "current_page": 1,
            "total_pages": 5,
            "links": {"next": f"{HOST}/api/rest/groups?page=2"},
        }
    },
}
SPEC_SHOW_RESPONSE = {"data": {"id": 1, "name": "My contact list"}}
SPEC_CREATE_REQUEST = {"name": "My new contact list"}
SPEC_CREATE_RESPONSE = {"data": {"id": 1, "name": "My new contact list"}}
SPEC_ERROR_RESPONSE = {"error": {"code": 422, "description": "The name field is required."}}


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
    else:
        assert type(actual) is type(sample), f"{where}: {actual!r} is not like {sample!r}"


def assert_error(response, status, code, description):
    assert response.status_code == status, response.content
    assert response.json() == {"error": {"code": code, "description": description}}


def groups_state(account) -> dict:
    return {
        "groups": list(Group.objects.filter(account=account).order_by("id").values_list("id", "name")),
        "memberships": sorted(Membership.objects.filter(group__account=account).values_list("contact_id", "group_id")),
    }


# ---------------------------------------------------------------------------------------------
# List and show


def test_list_groups_matches_the_spec_sample(api_client, account):
    first = group_create(account=account, name="My contact list")
    group_create(account=account, name="Second")

    response = api_client.get(GROUPS_URL)

    assert response.status_code == 200
    body = response.json()
    assert_shape(body["data"], SPEC_LIST_RESPONSE["data"])
    assert body["data"][0] == {"id": first.id, "name": "My contact list"}
    assert [group["name"] for group in body["data"]] == ["My contact list", "Second"]
    assert body["meta"]["pagination"] == {
        "total": 2,
        "count": 2,
        "per_page": 100,
        "current_page": 1,
        "total_pages": 1,
        "links": {},
    }


def test_list_groups_paginates_with_links_keeping_the_limit(api_client, account):
    for index in range(5):
        group_create(account=account, name=f"G{index}")

    body = api_client.get(f"{GROUPS_URL}?limit=2").json()

    assert_shape(body, SPEC_LIST_RESPONSE)
    assert body["meta"]["pagination"] == {
        "total": 5,
        "count": 2,
        "per_page": 2,
        "current_page": 1,
        "total_pages": 3,
        "links": {"next": f"{HOST}/api/rest/groups?limit=2&page=2"},
    }
    last = api_client.get(f"{GROUPS_URL}?limit=2&page=3").json()
    assert [group["name"] for group in last["data"]] == ["G4"]
    assert last["meta"]["pagination"]["links"] == {"previous": f"{HOST}/api/rest/groups?limit=2&page=2"}


@pytest.mark.parametrize(
    ("query", "description"),
    [
        ("limit=0", "The limit must be an integer between 1 and 1000."),
        ("limit=1001", "The limit must be an integer between 1 and 1000."),
        ("page=-1", "The page must be an integer at least 1."),
        ("page=two", "The page must be an integer at least 1."),
    ],
)
def test_list_groups_with_invalid_paging_is_rejected(api_client, account, query, description):
    assert_error(api_client.get(f"{GROUPS_URL}?{query}"), 422, 422, description)


def test_list_groups_never_shows_or_counts_another_accounts_groups(other_client, account):
    group_create(account=account, name="Private")

    body = other_client.get(GROUPS_URL).json()

    assert body["data"] == []
    assert body["meta"]["pagination"]["total"] == 0


def test_show_group_matches_the_spec_sample(api_client, account):
    group = group_create(account=account, name="My contact list")

    response = api_client.get(f"{GROUPS_URL}/{group.id}")

    assert response.status_code == 200
    assert_shape(response.json(), SPEC_SHOW_RESPONSE)
    assert response.json() == {"data": {"id": group.id, "name": "My contact list"}}


@pytest.mark.parametrize("group_id", ["999999", "abc", "-3", "99999999999999999999999"])
def test_show_group_with_an_unknown_or_malformed_id_is_not_found(api_client, account, group_id):
    assert_error(api_client.get(f"{GROUPS_URL}/{group_id}"), 404, 404, "Resource not found")


def test_show_group_of_another_account_is_not_found(other_client, account):
    group = group_create(account=account, name="Private")
    assert_error(other_client.get(f"{GROUPS_URL}/{group.id}"), 404, 404, "Resource not found")


# ---------------------------------------------------------------------------------------------
# Create


def test_create_group_from_spec_sample_answers_201(api_client, account):
    response = api_client.post(GROUPS_URL, SPEC_CREATE_REQUEST, format="json")

    assert response.status_code == 201, response.content
    assert_shape(response.json(), SPEC_CREATE_RESPONSE)
    group = Group.objects.get(account=account)
    assert response.json() == {"data": {"id": group.id, "name": "My new contact list"}}


def test_create_group_with_a_name_used_by_another_account(api_client, account, other_user):
    group_create(account=other_user.account, name="Customers")
    response = api_client.post(GROUPS_URL, {"name": "Customers"}, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({}, "The name field is required."),
        ({"name": None}, "The name field is required."),
        ({"name": "   "}, "The name field is required."),
        ({"name": ["a"]}, "The name must be a string."),
        ({"name": {"a": 1}}, "The name must be a string."),
        ({"name": True}, "The name must be a string."),
        ({"name": "x" * 256}, "The name may not be greater than 255 characters."),
        ({"name": "Existing"}, "The name has already been taken."),
        ({"name": "  Existing "}, "The name has already been taken."),
    ],
)
def test_create_group_with_invalid_data_is_rejected_and_changes_nothing(api_client, account, body, description):
    group_create(account=account, name="Existing")
    before = groups_state(account)

    response = api_client.post(GROUPS_URL, body, format="json")

    assert_error(response, 422, 422, description)
    assert_shape(response.json(), SPEC_ERROR_RESPONSE)
    assert groups_state(account) == before


@pytest.mark.parametrize("raw", ["[]", '"My list"', "{bad json"])
def test_create_group_with_a_body_that_is_not_a_json_object_answers_125(api_client, account, raw):
    response = api_client.generic("POST", GROUPS_URL, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 125
    assert not Group.objects.exists()


# ---------------------------------------------------------------------------------------------
# Update


def test_update_group_renames_it(api_client, account):
    group = group_create(account=account, name="Old")

    response = api_client.put(f"{GROUPS_URL}/{group.id}", SPEC_CREATE_REQUEST, format="json")

    assert response.status_code == 200, response.content
    assert_shape(response.json(), SPEC_CREATE_RESPONSE)
    assert response.json() == {"data": {"id": group.id, "name": "My new contact list"}}
    group.refresh_from_db()
    assert group.name == "My new contact list"


def test_update_group_to_its_own_name_is_accepted(api_client, account):
    group = group_create(account=account, name="Same")
    response = api_client.put(f"{GROUPS_URL}/{group.id}", {"name": "Same"}, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({}, "The name field is required."),
        ({"name": ""}, "The name field is required."),
        ({"name": []}, "The name must be a string."),
        ({"name": "y" * 256}, "The name may not be greater than 255 characters."),
        ({"name": "Taken"}, "The name has already been taken."),
    ],
)
def test_update_group_with_invalid_data_is_rejected_and_changes_nothing(api_client, account, body, description):
    group = group_create(account=account, name="Mine")
    group_create(account=account, name="Taken")
    before = groups_state(account)

    response = api_client.put(f"{GROUPS_URL}/{group.id}", body, format="json")

    assert_error(response, 422, 422, description)
    assert groups_state(account) == before


def test_update_group_of_another_account_is_not_found_and_unchanged(other_client, account):
    group = group_create(account=account, name="Private")

    response = other_client.put(f"{GROUPS_URL}/{group.id}", {"name": "Hijacked"}, format="json")

    assert_error(response, 404, 404, "Resource not found")
    group.refresh_from_db()
    assert group.name == "Private"


# ---------------------------------------------------------------------------------------------
# Delete


def test_delete_group_answers_204_and_keeps_its_contacts(api_client, account):
    contact = contact_create(account=account, email="member@example.com", groups_names=["Doomed", "Kept"])
    group = Group.objects.get(account=account, name="Doomed")

    response = api_client.delete(f"{GROUPS_URL}/{group.id}")

    assert response.status_code == 204
    assert response.content == b""
    assert not Group.objects.filter(id=group.id).exists()
    assert Contact.objects.filter(id=contact.id).exists()
    assert [kept.name for kept in contact.groups.all()] == ["Kept"]
    assert_error(api_client.delete(f"{GROUPS_URL}/{group.id}"), 404, 404, "Resource not found")


def test_delete_group_of_another_account_is_not_found_and_keeps_it(other_client, account):
    contact_create(account=account, email="member@example.com", groups_names=["Private"])
    group = Group.objects.get(account=account)
    before = groups_state(account)

    response = other_client.delete(f"{GROUPS_URL}/{group.id}")

    assert_error(response, 404, 404, "Resource not found")
    assert groups_state(account) == before


def test_groups_require_authentication(client, account):
    response = client.post(GROUPS_URL, SPEC_CREATE_REQUEST, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 103
    assert not Group.objects.exists()
