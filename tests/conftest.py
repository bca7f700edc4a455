import base64
from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Account, User
from accounts.services import api_user_provision

API_PASSWORD = "s3cret-api-password-for-tests"

# The fault suite's figures are printed at the end of every run that has them (xdist included).
pytest_plugins = ["tests.faults.figures"]


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Login passwords are not what these tests are about; the default hasher costs ~0.3 s a user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache():
    # Auth-failure counters live in the cache (Redis in CI); each test starts with none.
    cache.clear()
    yield


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def make_api_client(user: User, password: str = API_PASSWORD) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic_auth(user.username, password))
    return client


@pytest.fixture
def api_user(db) -> User:
    user, _ = api_user_provision(
        username="acme",
        api_password=API_PASSWORD,
        account_name="ACME",
        balance=Decimal("100"),
        senders=["news@acme.test"],
    )
    return user


@pytest.fixture
def account(api_user) -> Account:
    return api_user.account


@pytest.fixture
def api_client(api_user) -> APIClient:
    return make_api_client(api_user)


@pytest.fixture
def other_user(db) -> User:
    user, _ = api_user_provision(username="globex", api_password=API_PASSWORD, account_name="Globex")
    return user


@pytest.fixture
def other_client(other_user) -> APIClient:
    """A client of a second account, for cross-account isolation tests."""
    return make_api_client(other_user)


@pytest.fixture(autouse=True)
def _outbound_allows_the_loopback_fakes(settings):
    # The outbound-URL guard (config/outbound.py) refuses loopback like every non-public address, and
    # the fake receivers and gateways of tests/fakes/ listen on 127.0.0.1: tests allow that one address
    # the way an operator allows an on-premise receiver (OUTBOUND_ALLOWED_HOSTS), so the suite proves
    # the allowed path everywhere. Tests of the refusals set the list empty (tests/config/test_outbound.py).
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
