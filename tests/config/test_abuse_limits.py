"""Abuse limits, refused before the work they would cause: API bodies over their limit (413, before a
byte is read, with or without Content-Length), JSON nested too deep (400/125), header floods (431) and
oversized Authorization headers (refused without decoding or hashing them)."""

import io
import json
import sys

import pytest
from django.conf import settings
from django.test.client import ClientHandler

from config import api as config_api
from config.api import MAX_AUTHORIZATION_LENGTH, MAX_JSON_DEPTH
from tests.conftest import API_PASSWORD, basic_auth

MB = 1024 * 1024
TOO_LARGE = {"error": {"code": 413, "description": "Request body too large"}}
TOO_MANY_HEADERS = {"error": {"code": 431, "description": "Request header fields too large"}}


class UnreadableInput(io.RawIOBase):
    """A wsgi.input that fails the test if anything reads it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    readline = read


class EndlessInput(io.RawIOBase):
    """A chunked body that never ends (no Content-Length), failing the test when read past `allowed` bytes."""

    def __init__(self, allowed: int):
        self.allowed = allowed
        self.taken = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("read to the end of an endless body")
        self.taken += size
        if self.taken > self.allowed:
            raise AssertionError(f"read {self.taken} bytes, past the limit")
        return b"x" * size


def environ(method: str, path: str, stream: io.RawIOBase, **extra: str) -> dict:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **extra,
    }


def handle(env: dict):
    """Through Django's whole handler and middleware, as a WSGI server would call it."""
    return ClientHandler()(env)


def body_of(response) -> dict:
    return json.loads(b"".join(response))


# ---------------------------------------------------------------------------------------------
# Body size


@pytest.mark.parametrize(
    ("path", "limit_name"),
    [
        ("/api/rest/sms", "API_MAX_BODY_BYTES"),
        ("/api/rest/contacts", "API_MAX_BODY_BYTES"),
        ("/api/rest/v2/templates", "API_MAX_BODY_BYTES"),
        ("/api/rest/mailing", "API_MAX_ATTACHMENTS_BODY_BYTES"),
        ("/api/rest/images/generate", "API_MAX_ATTACHMENTS_BODY_BYTES"),
    ],
)
def test_a_declared_body_over_the_limit_answers_413_without_being_read(path, limit_name):
    too_long = str(getattr(settings, limit_name) + 1)

    response = handle(environ("POST", path, UnreadableInput(), CONTENT_LENGTH=too_long))

    assert response.status_code == 413
    assert body_of(response) == TOO_LARGE


def test_the_limits_are_ten_and_thirty_megabytes_within_djangos_own():
    assert settings.API_MAX_BODY_BYTES == 10 * MB
    assert settings.API_MAX_ATTACHMENTS_BODY_BYTES == 30 * MB
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= settings.API_MAX_ATTACHMENTS_BODY_BYTES


@pytest.mark.parametrize("path", ["/api/rest/sms", "/api/rest/mailing"])
def test_a_chunked_body_over_the_limit_is_read_one_byte_past_it_then_refused(path):
    limit = settings.API_MAX_ATTACHMENTS_BODY_BYTES if path.endswith("mailing") else settings.API_MAX_BODY_BYTES
    stream = EndlessInput(allowed=limit + 1)

    response = handle(environ("POST", path, stream, **{"wsgi.input_terminated": True}))

    assert response.status_code == 413
    assert body_of(response) == TOO_LARGE
    assert stream.taken == limit + 1


def test_a_body_sent_with_transfer_encoding_chunked_is_bounded_too():
    stream = EndlessInput(allowed=settings.API_MAX_BODY_BYTES + 1)

    response = handle(environ("PUT", "/api/rest/contacts/1", stream, HTTP_TRANSFER_ENCODING="chunked"))

    assert response.status_code == 413


@pytest.mark.django_db
def test_a_chunked_body_within_the_limit_is_read_like_any_other(api_user):
    body = json.dumps({"from": "ACME", "to": ["34666555444"], "message": "Hello"}).encode()
    env = environ(
        "POST", "/api/rest/sms", io.BytesIO(body), HTTP_AUTHORIZATION=basic_auth(api_user.username, API_PASSWORD),
        **{"wsgi.input_terminated": True},
    )  # fmt: skip

    response = handle(env)

    assert response.status_code == 202, b"".join(response)
    assert body_of(response)["result"][0]["accepted"] is True


@pytest.mark.django_db
def test_an_email_send_between_the_two_limits_is_accepted_and_an_sms_send_is_not(api_client):
    padding = "x" * (11 * MB)  # unknown fields are ignored; the size is what counts
    mailing = {"to": ["test@example.com"], "fromEmail": "news@acme.test", "replyTo": "news@acme.test",
               "subject": "Hi", "body": "<p>Hi</p>", "padding": padding}  # fmt: skip
    sms = {"from": "ACME", "to": ["34666555444"], "message": "Hello", "padding": padding}

    assert api_client.post("/api/rest/mailing", mailing, format="json").status_code == 202
    refused = api_client.post("/api/rest/sms", sms, format="json")
    assert refused.status_code == 413
    assert refused.json() == TOO_LARGE


def test_a_malformed_content_length_answers_400_in_the_envelope():
    response = handle(environ("POST", "/api/rest/sms", UnreadableInput(), CONTENT_LENGTH="-5"))

    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == 400


def test_staff_pages_keep_djangos_own_body_limit():
    # Outside /api/ the middleware leaves bodies alone: file uploads stream to disk with their own limits.
    response = handle(environ("GET", "/login/", io.BytesIO(b""), CONTENT_LENGTH="0", CONTENT_TYPE=""))

    assert response.status_code == 200


# ---------------------------------------------------------------------------------------------
# JSON nesting


def nested(depth: int) -> bytes:
    """A JSON object whose deepest value sits at `depth` levels (the object itself is level 1)."""
    return b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.django_db
def test_json_nested_deeper_than_the_limit_answers_400_125(api_client):
    response = api_client.post("/api/rest/sms", nested(MAX_JSON_DEPTH + 1), content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": 125, "description": f"Invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels"}
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [b"[" * 200_000, b'{"a": ' * 200_000, b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"]
)
def test_json_nested_past_the_interpreters_stack_answers_400_125_not_500(api_client, body):
    response = api_client.post("/api/rest/sms", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 125


@pytest.mark.django_db
def test_json_nested_exactly_to_the_limit_is_read(api_client):
    response = api_client.post("/api/rest/sms", nested(MAX_JSON_DEPTH), content_type="application/json")

    # Read and judged by the endpoint: no message.
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 104


@pytest.mark.django_db
def test_brackets_inside_strings_do_not_count_as_nesting(api_client):
    body = {"from": "ACME", "to": ["34666555444"], "message": "Hi", "note": "[{" * 100}

    assert api_client.post("/api/rest/sms", body, format="json").status_code == 202


# ---------------------------------------------------------------------------------------------
# Headers


@pytest.mark.parametrize(("path", "json_answer"), [("/api/rest/account", True), ("/login/", False)])
def test_a_flood_of_headers_answers_431(client, path, json_answer):
    flood = {f"HTTP_X_FLOOD_{index}": "1" for index in range(500)}

    response = client.get(path, **flood)

    assert response.status_code == 431
    if json_answer:
        assert response.json() == TOO_MANY_HEADERS
    else:
        assert response["Content-Type"].startswith("text/plain")


def test_a_one_megabyte_basic_auth_header_answers_431_before_authentication(client, monkeypatch):
    monkeypatch.setattr(config_api.ApiPasswordAuthentication, "authenticate", _must_not_run)

    response = client.get("/api/rest/account", HTTP_AUTHORIZATION="Basic " + "A" * MB)

    assert response.status_code == 431
    assert response.json() == TOO_MANY_HEADERS


@pytest.mark.django_db
def test_an_authorization_header_too_long_for_a_credential_is_refused_without_decoding_or_hashing(
    client, api_user, monkeypatch
):
    import accounts.services

    monkeypatch.setattr(config_api.base64, "b64decode", _must_not_run)
    monkeypatch.setattr(accounts.services, "api_password_matches", _must_not_run)
    header = basic_auth(api_user.username, "p" * MAX_AUTHORIZATION_LENGTH)

    response = client.get("/api/rest/account", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 103


@pytest.mark.django_db
def test_oversized_authorization_headers_count_as_failures_of_their_address(client, settings):
    settings.API_AUTH_MAX_FAILURES_PER_IP = 3
    header = "Basic " + "A" * (MAX_AUTHORIZATION_LENGTH + 1)

    answers = [client.get("/api/rest/account", HTTP_AUTHORIZATION=header).status_code for _ in range(4)]

    assert answers == [401, 401, 401, 429]


def _must_not_run(*args, **kwargs):
    raise AssertionError("called for an oversized header")
