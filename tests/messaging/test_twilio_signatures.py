"""Twilio webhook signatures are checked by the `twilio` package's RequestValidator, with the URL
variants Twilio is known to sign (with and without the scheme's default port), and nothing looser."""

from urllib.parse import urlencode

import pytest
from django.test import override_settings
from django.utils.datastructures import MultiValueDict
from twilio.request_validator import RequestValidator

from messaging.models import ProviderRoute
from messaging.providers import twilio as twilio_module
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, sign
from tests.messaging.provider_contract import WebhookRequest, post
from tests.messaging.test_twilio import status_params

pytestmark = pytest.mark.django_db
PATH = "/webhooks/twilio/status"


@pytest.fixture(autouse=True)
def twilio_route(account):
    return ProviderRoute.objects.create(
        account=account,
        channel="sms",
        provider="twilio",
        settings={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
    )


def signed(body: str, signature: str) -> WebhookRequest:
    return WebhookRequest(PATH, body.encode(), "application/x-www-form-urlencoded", {"X-Twilio-Signature": signature})


def test_the_signature_is_computed_by_the_twilio_package(monkeypatch):
    calls = []
    real = RequestValidator.compute_signature

    def spy(self, uri, params, *args, **kwargs):
        calls.append(uri)
        return real(self, uri, params, *args, **kwargs)

    monkeypatch.setattr(twilio_module.RequestValidator, "compute_signature", spy)
    params = status_params("SM1", "delivered")

    assert post(signed(urlencode(params), sign(AUTH_TOKEN, "http://localhost:8000" + PATH, params))).status_code == 200
    assert calls == ["http://localhost:8000" + PATH]


def test_a_repeated_parameter_is_signed_with_each_of_its_values():
    pairs = [*status_params("SM2", "delivered").items(), ("Media", "b"), ("Media", "a")]
    url = "http://localhost:8000" + PATH
    values = MultiValueDict({key: [value] for key, value in pairs if key != "Media"} | {"Media": ["b", "a"]})
    expected = RequestValidator(AUTH_TOKEN).compute_signature(url, values)

    assert twilio_module.twilio_signature(AUTH_TOKEN, url, pairs) != twilio_module.twilio_signature(
        AUTH_TOKEN, url, [pair for pair in pairs if pair != ("Media", "a")]
    )
    assert post(signed(urlencode(pairs), expected)).status_code == 200


@override_settings(PUBLIC_URL="https://campaigns.example.com")
@pytest.mark.parametrize("signed_url", ["https://campaigns.example.com", "https://campaigns.example.com:443"])
def test_twilio_may_sign_the_url_with_or_without_the_default_port(signed_url):
    params = status_params("SM3", "delivered")

    assert post(signed(urlencode(params), sign(AUTH_TOKEN, signed_url + PATH, params))).status_code == 200


@override_settings(PUBLIC_URL="https://campaigns.example.com:8443")
def test_a_non_default_port_is_part_of_the_signed_url():
    params = status_params("SM4", "delivered")

    with_port = signed(urlencode(params), sign(AUTH_TOKEN, "https://campaigns.example.com:8443" + PATH, params))
    without_port = signed(urlencode(params), sign(AUTH_TOKEN, "https://campaigns.example.com" + PATH, params))
    assert post(with_port).status_code == 200
    assert post(without_port).status_code == 403


def test_a_signature_of_other_parameters_is_refused():
    params = status_params("SM5", "delivered")
    other = sign(AUTH_TOKEN, "http://localhost:8000" + PATH, {**params, "MessageStatus": "undelivered"})

    assert post(signed(urlencode(params), other)).status_code == 403
