"""Shared fixtures of the OTP tests: the spec's samples, a controlled clock and small helpers."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

GENERATE_URL = "/api/rest/otp/generate"
CHECK_URL = "/api/rest/otp/check"

# The spec's samples (section "OTP"); their clock is 2020-01-01T12:00:00+00:00.
SPEC_START = datetime(2020, 1, 1, 12, 0, 0, tzinfo=UTC)
SPEC_GENERATE_REQUEST = {"recipient": "34666555444"}
SPEC_OTP = {
    "recipient": "34666555444",
    "code": "1234",
    "attempts": 0,
    "maxAttempts": 3,
    "maxSecondsValidity": 60,
    "appId": "",
    "createdAt": "2020-01-01T12:00:00+00:00",
    "updatedAt": "2020-01-01T12:00:00+00:00",
    "expiresAt": "2020-01-01T12:01:00+00:00",
}
SPEC_GENERATE_RESPONSE = {"data": SPEC_OTP}
SPEC_CHECK_REQUEST = {"recipient": "34666555444", "code": "1234"}
SPEC_CHECK_VALID_RESPONSE = {"data": {"valid": True, "reason": "Valid", "otp": {"data": {**SPEC_OTP, "attempts": 1}}}}
SPEC_CHECK_EXPIRED_RESPONSE = {
    "data": {"valid": False, "reason": "Expired", "otp": {"data": {**SPEC_OTP, "attempts": 1}}}
}
SPEC_GENERATE_ERROR = {"error": {"code": 422, "description": "The recipient field must be a valid phone or email."}}
SPEC_CHECK_ERROR = {"error": {"code": 422, "description": "The recipient field is required."}}


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """django.utils.timezone.now, frozen at the spec samples' instant and moved by hand."""
    controlled = Clock(SPEC_START)
    monkeypatch.setattr(timezone, "now", lambda: controlled.now)
    return controlled


@pytest.fixture
def fixed_codes(monkeypatch):
    """Makes the generator hand out these codes in turn (`fixed_codes.extend([...])`)."""
    from otp import services

    codes: list[str] = []
    monkeypatch.setattr(services, "code_generate", lambda *, alpha, length: codes.pop(0))
    return codes


def generate(client, **body: Any):
    return client.post(GENERATE_URL, body, format="json")


def check(client, **body: Any):
    return client.post(CHECK_URL, body, format="json")


def generated_code(client, **body: Any) -> str:
    response = generate(client, **body)
    assert response.status_code == 200, response.content
    return response.json()["data"]["code"]


def wrong_code(code: str) -> str:
    """A code of the same length and alphabet that differs from `code`."""
    return "".join("1" if char == "0" else "0" for char in code)


def assert_shape(actual, sample, where="$"):
    """Same keys at every level and the same JSON type for every value as the spec's sample."""
    if isinstance(sample, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(sample), f"{where}: {sorted(actual)} != {sorted(sample)}"
        for key, value in sample.items():
            assert_shape(actual[key], value, f"{where}.{key}")
    else:
        assert type(actual) is type(sample), f"{where}: {actual!r} is not like {sample!r}"


def assert_error(response, status: int, description: str, code: int | None = None):
    assert response.status_code == status, response.content
    assert response.json() == {"error": {"code": code or status, "description": description}}
