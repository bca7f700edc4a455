"""GET /api/rest/account: the spec's fields, the live balance, authentication and isolation."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import Account
from accounts.services import balance_top_up
from tests.campaigns.conftest import ES_PRICE, post_sms

pytestmark = pytest.mark.django_db

ACCOUNT_URL = "/api/rest/account"


def test_answers_every_field_of_the_spec_and_nothing_else(api_client, api_user, account):
    User = type(api_user)
    User.objects.filter(pk=api_user.pk).update(email="it@acme.test")
    Account.objects.filter(pk=account.pk).update(
        timezone="Europe/Madrid",
        language="es",
        country="ES",
        currency="EUR",
        created_at=datetime(2018, 3, 13, 14, 32, 25, tzinfo=UTC),
    )

    response = api_client.get(ACCOUNT_URL)

    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "username": "acme",
            "email": "it@acme.test",
            "timezone": "Europe/Madrid",
            "language": "es",
            "balance": 100.0,
            "createdAt": "2018-03-13T14:32:25+00:00",
            "country": "ES",
            "currency": "EUR",
        }
    }


def test_balance_is_the_current_one_after_sends_and_top_ups(api_client, account):
    post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "T"})
    balance_top_up(account=account, amount=Decimal("0.5"), created_by=None)

    balance = api_client.get(ACCOUNT_URL).json()["data"]["balance"]

    assert balance == float(Decimal("100.5") - ES_PRICE)
    assert isinstance(balance, float)


def test_each_caller_sees_its_own_account(api_client, other_client, other_user):
    assert api_client.get(ACCOUNT_URL).json()["data"]["username"] == "acme"
    other = other_client.get(ACCOUNT_URL).json()["data"]
    assert (other["username"], other["balance"]) == ("globex", 0.0)


def test_without_credentials_it_is_401_in_the_envelope(db):
    response = APIClient().get(ACCOUNT_URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 103


def test_other_methods_are_405(api_client):
    response = api_client.post(ACCOUNT_URL, {}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == 405
