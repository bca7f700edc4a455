"""PostgreSQL cannot store a NUL character: every API body and query parameter holding one is refused
with 422 naming where it is, before any endpoint writes anything."""

import json

import pytest

from campaigns.models import Campaign, Sending
from contacts.models import Contact


def _post(client, path: str, body: dict):
    return client.post(path, data=json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_a_nul_in_a_send_body_is_refused_naming_the_field_and_nothing_is_written(api_client):
    response = _post(api_client, "/api/rest/sms", {"message": "Hi", "to": ["34666555444"], "campaignName": "A\x00B"})

    assert response.status_code == 422
    assert response.json() == {
        "error": {"code": 422, "description": "The campaignName may not contain a NUL character."}
    }
    assert not Campaign.objects.exists() and not Sending.objects.exists()


@pytest.mark.django_db
def test_a_nul_deep_in_a_body_names_its_path(api_client):
    response = _post(
        api_client, "/api/rest/sms", {"message": "Hi {name}", "to": ["1", "2"], "sub": [{}, {"name": "\x00"}]}
    )

    assert response.status_code == 422
    assert response.json()["error"]["description"] == "The sub.1.name may not contain a NUL character."


@pytest.mark.django_db
def test_a_nul_in_a_contact_body_changes_nothing(api_client):
    response = _post(api_client, "/api/rest/contacts", {"email": "ana@example.com", "name": "An\x00a"})

    assert response.status_code == 422
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_a_nul_in_a_query_parameter_is_refused(api_client):
    response = api_client.get("/api/rest/scheduled", {"guid": "ABC\x00"})

    assert response.status_code == 422
    assert response.json()["error"]["description"] == "The guid may not contain a NUL character."


@pytest.mark.django_db
def test_a_backslash_u0000_written_as_text_is_not_a_nul(api_client):
    body = {"email": "ana@example.com", "name": "\\u0000", "groupsNames": ["Customers"]}
    response = _post(api_client, "/api/rest/contacts", body)

    assert response.status_code in (200, 201), response.json()
    assert Contact.objects.get().name == "\\u0000"
