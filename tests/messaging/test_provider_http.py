"""messaging.providers.http: status classes, connection failures, "maybe sent", pooled sessions."""

import socket

import pytest
import requests

from messaging.providers.base import ProviderError
from messaging.providers.http import (
    CONNECTION,
    MAYBE_SENT,
    ErrorClass,
    HttpRoute,
    MaybeSent,
    _session,
    classify,
    error_from,
)
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.fakes.twilio_voice import FakeTwilioVoice

CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, None),
        (201, None),
        (204, None),
        (400, ErrorClass.PERMANENT),
        (404, ErrorClass.PERMANENT),
        (422, ErrorClass.PERMANENT),
        (401, ErrorClass.ROUTE_FAULT),
        (403, ErrorClass.ROUTE_FAULT),
        (408, ErrorClass.TRANSIENT),
        (429, ErrorClass.TRANSIENT),
        (500, ErrorClass.TRANSIENT),
        (503, ErrorClass.TRANSIENT),
    ],
)
def test_statuses_are_classified_as_transient_permanent_or_route_fault(status, expected):
    assert classify(status) is expected


def _response(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "Reason"
    return response


def test_only_permanent_classes_make_permanent_errors_and_route_faults_stay_transient():
    assert error_from(_response(400)).permanent is True
    assert error_from(_response(401)).permanent is False
    assert error_from(_response(429)).permanent is False
    assert error_from(_response(400), describe=lambda r: ("Bad To (Twilio error 21211)", "21211")).code == "21211"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_connection_is_transient_and_certainly_not_sent():
    route = HttpRoute(key="test:refused", base_url=f"http://127.0.0.1:{_closed_port()}", connect_timeout=0.5)
    with pytest.raises(ProviderError) as caught:
        route.request("POST", "/x", data={"a": "b"})
    assert not isinstance(caught.value, MaybeSent)
    assert (caught.value.permanent, caught.value.code) == (False, CONNECTION)


def test_no_answer_after_the_request_was_written_is_maybe_sent():
    with FakeTwilioVoice() as fake:
        route = HttpRoute(key="test:slow", base_url=fake.api_base, auth=(ACCOUNT_SID, AUTH_TOKEN), read_timeout=0.3)
        fake.delay_next(1.5)
        with pytest.raises(MaybeSent) as caught:
            route.request("POST", CALLS, data={"To": "+34666555444", "From": "+34911222333", "Url": "https://x/"})
    assert caught.value.code == MAYBE_SENT and caught.value.permanent is False
    assert len(fake.calls) == 1  # the fake did take it


def test_a_dropped_connection_after_writing_is_maybe_sent():
    with FakeTwilioVoice() as fake:
        route = HttpRoute(key="test:drop", base_url=fake.api_base, auth=(ACCOUNT_SID, AUTH_TOKEN))
        fake.drop_next()
        with pytest.raises(MaybeSent):
            route.request("POST", CALLS, data={"To": "+34666555444"})


def test_one_keep_alive_pool_per_route_key_in_a_process():
    assert _session("test:a", 4) is _session("test:a", 4)
    assert _session("test:a", 4) is not _session("test:b", 4)


def test_repr_never_shows_the_credentials():
    route = HttpRoute(key="k", base_url="https://api.example.com", auth=("user", "s3cret-token"))
    assert "s3cret-token" not in repr(route) and "user" not in repr(route)
