"""Every answer under /api/ is the API's JSON envelope, whatever the method: unknown paths answer 404
(CSRF never applies to the API, which authenticates with Basic auth and reads no cookie), known paths
answer 405 to a method they do not serve. Routes are enumerated from the URL map itself, so a route
added later is covered without touching this file."""

import json
import re

import pytest
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from config import urls as real_urls
from tests.conftest import API_PASSWORD, basic_auth

NOT_FOUND = {"error": {"code": 404, "description": "Resource not found"}}
METHODS = ["get", "post", "put", "patch", "delete", "head", "options"]
UNKNOWN_PATHS = [
    "/api/rest/v2/templates/null,null",
    "/api/rest/nope",
    "/api/rest/contacts/abc",
    "/api/rest/sms/",
    "/api/",
    "/api/rest/v3/anything/at/all",
]
# A sample value per path converter, so each route becomes a concrete path.
SAMPLES = {"int": "1", "str": "sample", "message_ids": "1"}


def api_routes() -> list[tuple[str, object]]:
    """(route, callback) of every pattern under api/ in the real URL map."""

    def walk(patterns, prefix: str):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern), entry.callback

    routes = walk(get_resolver().url_patterns, "")
    return [(route, callback) for route, callback in routes if route.startswith(("api/", "^api/"))]


def concrete(route: str) -> str:
    return "/" + re.sub(r"<(\w+):\w+>", lambda match: SAMPLES[match.group(1)], route)


@pytest.fixture
def csrf_client() -> Client:
    """A browser-like client: CSRF enforced, as in production."""
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_unknown_api_path_answers_the_json_404_for_every_method_with_csrf_enforced(csrf_client, path, method):
    body = {} if method in ("get", "head") else {"data": b'{"a": 1}', "content_type": "application/json"}
    response = getattr(csrf_client, method)(path, **body)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    if method != "head":
        assert response.json() == NOT_FOUND


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_api_path_answers_404_to_a_signed_in_browser_without_a_csrf_token(csrf_client, api_user, method):
    csrf_client.force_login(api_user)

    response = getattr(csrf_client, method)("/api/rest/v2/templates/null,null")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "delete"])
def test_unknown_api_path_answers_404_with_basic_auth_too(csrf_client, api_user, method):
    auth = basic_auth(api_user.username, API_PASSWORD)

    response = getattr(csrf_client, method)("/api/rest/v2/templates/null,null", HTTP_AUTHORIZATION=auth)

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_every_api_route_is_exempt_from_csrf():
    routes = api_routes()

    assert len(routes) > 30
    assert [route for route, callback in routes if not getattr(callback, "csrf_exempt", False)] == []


@pytest.mark.django_db
def test_every_known_api_path_answers_405_in_the_envelope_to_a_method_it_does_not_serve(csrf_client, api_user):
    auth = basic_auth(api_user.username, API_PASSWORD)
    checked = 0
    for route, callback in api_routes():
        view_class = getattr(callback, "cls", None)
        if view_class is None or not route.startswith("api/rest/"):
            continue
        path = concrete(route)
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view_class, method):
                continue
            response = getattr(csrf_client, method)(path, HTTP_AUTHORIZATION=auth)
            assert response.status_code == 405, (method, path, response.content[:200])
            assert response.json() == {"error": {"code": 405, "description": "Method not allowed"}}, (method, path)
            assert response["Allow"], (method, path)
            checked += 1
    assert checked > 50


def test_a_csrf_refusal_under_the_api_would_answer_in_the_envelope(rf: RequestFactory):
    api = real_urls.csrf_failure(rf.put("/api/rest/anything"), reason="CSRF cookie not set.")
    page = real_urls.csrf_failure(rf.post("/settings/"), reason="CSRF cookie not set.")

    assert api.status_code == page.status_code == 403
    assert api["Content-Type"] == "application/json"
    assert page["Content-Type"].startswith("text/html")


def test_400_and_403_handlers_answer_json_under_api_and_html_elsewhere(rf: RequestFactory):
    for handler, status in ((real_urls.handler400, 400), (real_urls.handler403, 403)):
        api = handler(rf.get("/api/rest/contacts"), Exception())
        page = handler(rf.get("/contacts/"), Exception())
        assert api.status_code == page.status_code == status
        assert api["Content-Type"] == "application/json"
        assert json.loads(api.content)["error"]["code"] == status
        assert page["Content-Type"].startswith("text/html")
