"""The conventions every /api/rest/ endpoint shares (config.api): error envelope, JSON bodies,
pagination, dates, and the self-hosted API documentation."""

import logging
import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.contrib.staticfiles import finders
from django.http import Http404
from django.test import Client, RequestFactory

from config import urls as real_urls
from config.api import iso8601
from contacts.models import Group

CONVENTIONS_URLS = pytest.mark.urls("tests.config.urls_conventions")
NOT_FOUND = {"error": {"code": 404, "description": "Resource not found"}}


# ---------------------------------------------------------------------------------------------
# Error envelope


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_api_path_answers_404_in_the_envelope_not_html(client, method):
    response = getattr(client, method)("/api/rest/nope")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == NOT_FOUND


@pytest.mark.django_db
def test_unknown_api_path_answers_in_the_envelope_with_debug_on(client, settings):
    settings.DEBUG = True

    response = client.get("/api/rest/nope/deeper")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_404_handler_answers_json_under_api_and_html_elsewhere(rf: RequestFactory):
    api = real_urls.handler404(rf.get("/api/rest/contacts/999"), Http404())
    page = real_urls.handler404(rf.get("/no-such-page"), Http404())

    assert api.status_code == page.status_code == 404
    assert api["Content-Type"] == "application/json"
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_unknown_page_outside_the_api_stays_html(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@CONVENTIONS_URLS
def test_method_not_allowed_answers_405_in_the_envelope(api_client):
    response = api_client.get("/api/rest/test/echo")

    assert response.status_code == 405
    assert response.json() == {"error": {"code": 405, "description": "Method not allowed"}}
    assert "POST" in response["Allow"]


@CONVENTIONS_URLS
@pytest.mark.parametrize("body", ["{not json", '{"name": "x",}', "\xff\xfe", "nul"])
def test_malformed_json_body_answers_400_with_code_125(api_client, body):
    response = api_client.post("/api/rest/test/echo", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"error": {"code": 125, "description": "Invalid JSON"}}


@CONVENTIONS_URLS
@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "null"])
def test_json_body_that_is_not_an_object_answers_400_with_code_125(api_client, body):
    response = api_client.post("/api/rest/test/echo", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 125


@CONVENTIONS_URLS
def test_json_object_body_is_read_whatever_the_content_type(api_client):
    response = api_client.post("/api/rest/test/echo", '{"name": "Ana"}', content_type="text/plain")

    assert response.status_code == 200
    assert response.json() == {"data": {"name": "Ana"}}


@CONVENTIONS_URLS
def test_empty_body_reads_as_an_empty_object(api_client):
    response = api_client.post("/api/rest/test/echo", "", content_type="application/json")

    assert response.status_code == 200
    assert response.json() == {"data": {}}


@CONVENTIONS_URLS
def test_unexpected_exception_answers_500_envelope_without_details_and_is_logged(api_client, caplog):
    with caplog.at_level(logging.ERROR, logger="config.api"):
        response = api_client.get("/api/rest/test/failing")

    assert response.status_code == 500
    assert response.json() == {"error": {"code": 500, "description": "Internal server error"}}
    assert b"secret" not in response.content
    assert b"Traceback" not in response.content
    assert "secret internal detail" in caplog.text


@CONVENTIONS_URLS
def test_database_error_answers_500_with_code_101(api_client):
    response = api_client.get("/api/rest/test/database-failing")

    assert response.status_code == 500
    assert response.json() == {"error": {"code": 101, "description": "Internal Database error"}}
    assert b"secret_table" not in response.content


@CONVENTIONS_URLS
@pytest.mark.django_db
def test_exception_outside_drf_under_api_answers_500_envelope():
    client = Client(raise_request_exception=False)

    response = client.get("/api/rest/test/plain-failing")

    assert response.status_code == 500
    assert response.json() == {"error": {"code": 500, "description": "Internal server error"}}
    assert b"secret" not in response.content


# ---------------------------------------------------------------------------------------------
# Pagination


@pytest.fixture
def groups(account, other_user):
    Group.objects.bulk_create(Group(account=account, name=f"Group {n:03d}") for n in range(1, 151))
    # Another account's groups are never listed nor counted.
    Group.objects.bulk_create(Group(account=other_user.account, name=f"Other {n}") for n in range(5))
    return list(Group.objects.filter(account=account).order_by("id"))


def pagination(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()["meta"]["pagination"]


@CONVENTIONS_URLS
def test_pagination_defaults_to_100_per_page(api_client, groups):
    response = api_client.get("/api/rest/test/groups")

    meta = pagination(response)
    assert {key: meta[key] for key in ["total", "count", "per_page", "current_page", "total_pages"]} == {
        "total": 150,
        "count": 100,
        "per_page": 100,
        "current_page": 1,
        "total_pages": 2,
    }
    assert meta["links"] == {"next": "http://testserver/api/rest/test/groups?page=2"}
    assert response.json()["data"][0] == {"id": groups[0].id, "name": "Group 001"}


@CONVENTIONS_URLS
def test_pagination_middle_page_links_both_ways_and_keeps_other_parameters(api_client, groups):
    response = api_client.get("/api/rest/test/groups", {"limit": 10, "page": 3})

    meta = pagination(response)
    assert [row["name"] for row in response.json()["data"]] == [f"Group {n:03d}" for n in range(21, 31)]
    assert (meta["count"], meta["per_page"], meta["current_page"], meta["total_pages"]) == (10, 10, 3, 15)
    assert meta["links"] == {
        "previous": "http://testserver/api/rest/test/groups?limit=10&page=2",
        "next": "http://testserver/api/rest/test/groups?limit=10&page=4",
    }


@CONVENTIONS_URLS
def test_pagination_limit_of_1000_is_accepted(api_client, groups):
    meta = pagination(api_client.get("/api/rest/test/groups", {"limit": 1000}))

    assert (meta["count"], meta["per_page"], meta["total_pages"], meta["links"]) == (150, 1000, 1, {})


@CONVENTIONS_URLS
@pytest.mark.parametrize("limit", ["0", "1001", "abc", "-1", "1.5"])
def test_pagination_limit_out_of_range_answers_422(api_client, groups, limit):
    response = api_client.get("/api/rest/test/groups", {"limit": limit})

    assert response.status_code == 422
    assert response.json() == {
        "error": {"code": 422, "description": "The limit must be an integer between 1 and 1000."}
    }


@CONVENTIONS_URLS
@pytest.mark.parametrize("page", ["0", "abc", "-2"])
def test_pagination_invalid_page_answers_422(api_client, groups, page):
    response = api_client.get("/api/rest/test/groups", {"page": page})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == 422


@CONVENTIONS_URLS
def test_page_beyond_the_end_is_empty_with_correct_meta(api_client, groups):
    response = api_client.get("/api/rest/test/groups", {"limit": 100, "page": 7})

    meta = pagination(response)
    assert response.json()["data"] == []
    assert (meta["total"], meta["count"], meta["current_page"], meta["total_pages"]) == (150, 0, 7, 2)
    assert meta["links"] == {"previous": "http://testserver/api/rest/test/groups?limit=100&page=2"}


@CONVENTIONS_URLS
def test_empty_list_has_one_empty_page(api_client):
    response = api_client.get("/api/rest/test/groups")

    meta = pagination(response)
    assert response.json()["data"] == []
    assert (meta["total"], meta["count"], meta["current_page"], meta["total_pages"], meta["links"]) == (
        0,
        0,
        1,
        1,
        {},
    )


# ---------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2018, 3, 13, 14, 32, 25, tzinfo=UTC), "2018-03-13T14:32:25+00:00"),
        (datetime(2018, 3, 13, 14, 32, 25, 999999, tzinfo=UTC), "2018-03-13T14:32:25+00:00"),
        (datetime(2018, 3, 13, 16, 32, 25, tzinfo=timezone(timedelta(hours=2))), "2018-03-13T14:32:25+00:00"),
        (datetime(2018, 3, 13, 14, 32, 25), "2018-03-13T14:32:25+00:00"),
        (date(2018, 3, 13), "2018-03-13"),
        (None, None),
    ],
    ids=["utc", "drops-microseconds", "converts-to-utc", "naive-is-utc", "date", "none"],
)
def test_iso8601_is_the_specs_utc_format(value, expected):
    assert iso8601(value) == expected


# ---------------------------------------------------------------------------------------------
# OpenAPI schema and documentation


@pytest.mark.django_db
def test_schema_is_an_openapi_3_document(client):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Campaign platform REST API"
    assert isinstance(document["paths"], dict)


@pytest.mark.django_db
def test_schema_is_served_as_yaml_by_default(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


@pytest.mark.django_db
def test_api_docs_render_with_every_asset_served_locally(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    assert any(asset.endswith("swagger-ui.css") for asset in assets)
    # Swagger UI's start-up script is served by the docs view itself (no inline script, for the CSP).
    assert "/api/docs/?script=" in assets
    for asset in (asset for asset in assets if asset != "/api/docs/?script="):
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a local static file"
    assert not re.search(r"https?://", html), "the docs page must not load anything from another host"
    assert "<script>" not in html
    script = client.get("/api/docs/?script=").content.decode()
    assert not re.search(r"https?://", script), "the docs script must not load anything from another host"
    assert '"/api/schema/"' in script
