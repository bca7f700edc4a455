"""HTTP Basic authentication with API passwords (config.api.ApiPasswordAuthentication via ApiView)."""

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiCredential, User
from accounts.services import api_credential_set, api_credential_set_allowed_ips, api_user_provision
from tests.conftest import API_PASSWORD, basic_auth

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls_auth")]

WHOAMI = "/api/rest/whoami"
CLIENT_IP = "198.51.100.10"
UNKNOWN = {"error": {"code": 103, "description": "Username or password unknown"}}
IP_NOT_ALLOWED = {"error": {"code": 112, "description": "IP address not allowed"}}


def call(authorization: str | None, *, ip: str = CLIENT_IP, **extra: str):
    meta = {"REMOTE_ADDR": ip, **extra}
    if authorization is not None:
        meta["HTTP_AUTHORIZATION"] = authorization
    return APIClient().get(WHOAMI, **meta)


def assert_refused(response, body: dict) -> None:
    assert response.status_code == 401
    assert response.json() == body
    assert response["WWW-Authenticate"] == 'Basic realm="api"'


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert response.json()["error"]["code"] == 429
    assert "Too many failed authentication attempts" in response.json()["error"]["description"]
    assert response["Retry-After"] == str(settings.API_AUTH_FAILURE_WINDOW)


# ---------------------------------------------------------------------------------------------
# Credentials


def test_correct_username_and_api_password_authenticate_as_the_users_account(api_user):
    response = call(basic_auth("acme", API_PASSWORD))

    assert response.status_code == 200
    assert response.json() == {"data": {"account": "ACME"}}


def test_the_basic_scheme_name_is_case_insensitive(api_user):
    token = basic_auth("acme", API_PASSWORD).split(" ", 1)[1]

    assert call(f"basic {token}").status_code == 200


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing-header"),
        pytest.param("", id="empty-header"),
        pytest.param("Bearer " + _b64(b"acme:" + API_PASSWORD.encode()), id="wrong-scheme"),
        pytest.param("Basic", id="scheme-without-credentials"),
        pytest.param("Basic !!!not-base64!!!", id="bad-base64"),
        pytest.param("Basic " + _b64(b"acme"), id="no-colon"),
        pytest.param("Basic " + _b64(b":" + API_PASSWORD.encode()), id="empty-username"),
        pytest.param("Basic " + _b64(b"acme:\xff\xfe"), id="not-utf8"),
    ],
)
def test_malformed_authorization_is_refused_with_103(api_user, authorization):
    assert_refused(call(authorization), UNKNOWN)


def test_unknown_username_is_refused_with_103(api_user):
    assert_refused(call(basic_auth("nobody", API_PASSWORD)), UNKNOWN)


def test_wrong_api_password_is_refused_with_103(api_user):
    assert_refused(call(basic_auth("acme", API_PASSWORD + "x")), UNKNOWN)


def test_inactive_user_is_refused_with_103(api_user):
    User.objects.filter(pk=api_user.pk).update(is_active=False)

    assert_refused(call(basic_auth("acme", API_PASSWORD)), UNKNOWN)


def test_user_without_account_is_refused_with_103(db):
    operator = User.objects.create_user("operator", password="operator-login-password")
    api_credential_set(user=operator, password=API_PASSWORD)

    assert_refused(call(basic_auth("operator", API_PASSWORD)), UNKNOWN)


def test_user_without_api_credential_is_refused_with_103(account):
    User.objects.create_user("webonly", password="web-login-password", account=account)

    assert_refused(call(basic_auth("webonly", "web-login-password")), UNKNOWN)
    assert_refused(call(basic_auth("webonly", "")), UNKNOWN)


def test_login_password_is_not_accepted_as_api_password(db):
    api_user_provision(username="mixed", api_password="the-api-password-123", login_password="the-login-password-456")

    assert_refused(call(basic_auth("mixed", "the-login-password-456")), UNKNOWN)
    assert call(basic_auth("mixed", "the-api-password-123")).status_code == 200


def test_api_password_is_stored_as_hmac_sha256_hex_and_never_in_clear(api_user):
    credential = ApiCredential.objects.get(user=api_user)
    expected = hmac.new(settings.API_PASSWORD_HMAC_KEY.encode(), API_PASSWORD.encode(), hashlib.sha256).hexdigest()

    assert credential.password_hmac == expected
    assert len(credential.password_hmac) == 64
    assert int(credential.password_hmac, 16) >= 0
    stored = ApiCredential.objects.filter(pk=credential.pk).values().get()
    assert all(API_PASSWORD not in str(value) for value in stored.values())


def test_rotating_the_api_password_invalidates_the_old_one(api_user):
    new_password = api_credential_set(user=api_user)

    assert new_password != API_PASSWORD
    assert_refused(call(basic_auth("acme", API_PASSWORD)), UNKNOWN)
    assert call(basic_auth("acme", new_password)).status_code == 200


def test_generated_api_password_has_at_least_128_bits(api_user):
    password = api_credential_set(user=api_user)

    # token_urlsafe: 6 bits per character.
    assert len(password) * 6 >= 128
    assert call(basic_auth("acme", password)).status_code == 200


def test_successful_call_records_last_used_at_and_failed_one_does_not(api_user):
    assert call(basic_auth("acme", "wrong")).status_code == 401
    assert ApiCredential.objects.get(user=api_user).last_used_at is None

    before = timezone.now()
    assert call(basic_auth("acme", API_PASSWORD)).status_code == 200

    last_used_at = ApiCredential.objects.get(user=api_user).last_used_at
    assert last_used_at is not None
    assert before - timedelta(seconds=1) <= last_used_at <= timezone.now()


# ---------------------------------------------------------------------------------------------
# IP allowlist


@pytest.mark.parametrize(
    ("allowed", "ip", "accepted"),
    [
        pytest.param(["203.0.113.7"], "203.0.113.7", True, id="single-ip-match"),
        pytest.param(["203.0.113.7"], "203.0.113.8", False, id="single-ip-other"),
        pytest.param(["198.51.100.0/24"], "198.51.100.200", True, id="cidr-inside"),
        pytest.param(["198.51.100.0/24"], "198.51.101.1", False, id="cidr-outside"),
        pytest.param(["203.0.113.7", "192.0.2.0/28"], "192.0.2.15", True, id="second-entry"),
        pytest.param(["2001:db8::/32"], "2001:db8::1", True, id="ipv6-cidr-inside"),
        pytest.param(["2001:db8::/32"], "2001:db9::1", False, id="ipv6-cidr-outside"),
        pytest.param(["2001:db8::5"], "2001:db8::5", True, id="ipv6-single"),
        pytest.param(["2001:db8::/32"], "203.0.113.7", False, id="ipv4-client-ipv6-list"),
        pytest.param([], "203.0.113.99", True, id="empty-list-allows-any"),
    ],
)
def test_ip_allowlist(api_user, allowed, ip, accepted):
    api_credential_set_allowed_ips(user=api_user, allowed_ips=allowed)

    response = call(basic_auth("acme", API_PASSWORD), ip=ip)

    if accepted:
        assert response.status_code == 200
    else:
        assert_refused(response, IP_NOT_ALLOWED)


def test_refusal_from_a_foreign_ip_is_identical_whether_the_password_is_right_or_wrong(api_user):
    api_credential_set_allowed_ips(user=api_user, allowed_ips=["203.0.113.0/24"])

    right = call(basic_auth("acme", API_PASSWORD), ip="198.51.100.1")
    wrong = call(basic_auth("acme", "not-the-password"), ip="198.51.100.1")

    assert_refused(right, IP_NOT_ALLOWED)
    assert (right.status_code, right.content) == (wrong.status_code, wrong.content)
    assert right["WWW-Authenticate"] == wrong["WWW-Authenticate"]


def test_allowed_ip_with_wrong_password_is_still_refused_with_103(api_user):
    api_credential_set_allowed_ips(user=api_user, allowed_ips=["203.0.113.7"])

    assert_refused(call(basic_auth("acme", "wrong"), ip="203.0.113.7"), UNKNOWN)


# ---------------------------------------------------------------------------------------------
# Reverse proxies


def test_x_forwarded_for_is_ignored_without_trusted_proxies(api_user, settings):
    settings.NUM_PROXIES = 0
    api_credential_set_allowed_ips(user=api_user, allowed_ips=["203.0.113.7"])

    response = call(basic_auth("acme", API_PASSWORD), ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")

    assert_refused(response, IP_NOT_ALLOWED)


def test_one_trusted_proxy_uses_the_address_it_appended(api_user, settings):
    settings.NUM_PROXIES = 1
    api_credential_set_allowed_ips(user=api_user, allowed_ips=["203.0.113.7"])
    auth = basic_auth("acme", API_PASSWORD)

    through_proxy = call(auth, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7")
    # The client wrote the first entry itself; only the proxy's (last) entry is trusted.
    spoofed = call(auth, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7, 192.0.2.99")

    assert through_proxy.status_code == 200
    assert_refused(spoofed, IP_NOT_ALLOWED)


def test_two_trusted_proxies_use_the_second_address_from_the_right(api_user, settings):
    settings.NUM_PROXIES = 2
    api_credential_set_allowed_ips(user=api_user, allowed_ips=["203.0.113.7"])

    response = call(
        basic_auth("acme", API_PASSWORD), ip="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.7, 10.0.0.2"
    )

    assert response.status_code == 200


def test_trusted_proxy_without_forwarded_header_falls_back_to_remote_addr(api_user, settings):
    settings.NUM_PROXIES = 1
    api_credential_set_allowed_ips(user=api_user, allowed_ips=["203.0.113.7"])

    assert call(basic_auth("acme", API_PASSWORD), ip="203.0.113.7").status_code == 200


# ---------------------------------------------------------------------------------------------
# Throttling of failures


def test_too_many_failures_from_one_ip_block_that_ip_even_with_correct_credentials(api_user, other_user, settings):
    settings.API_AUTH_MAX_FAILURES_PER_IP = 3
    settings.API_AUTH_MAX_FAILURES_PER_USER = 100
    attacker = "203.0.113.66"

    for username in ["acme", "globex", "nobody"]:
        assert_refused(call(basic_auth(username, "guess"), ip=attacker), UNKNOWN)

    assert_throttled(call(basic_auth("acme", API_PASSWORD), ip=attacker))
    assert_throttled(call(basic_auth("globex", API_PASSWORD), ip=attacker))
    assert call(basic_auth("acme", API_PASSWORD), ip="198.51.100.77").status_code == 200


def test_too_many_failures_for_a_username_block_new_ips_but_not_ips_that_already_authenticated(
    api_user, other_user, settings
):
    settings.API_AUTH_MAX_FAILURES_PER_IP = 100
    settings.API_AUTH_MAX_FAILURES_PER_USER = 3
    integration = "192.0.2.50"
    assert call(basic_auth("acme", API_PASSWORD), ip=integration).status_code == 200

    for attacker in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]:
        assert_refused(call(basic_auth("acme", "guess"), ip=attacker), UNKNOWN)

    assert_throttled(call(basic_auth("acme", API_PASSWORD), ip="203.0.113.4"))
    assert_throttled(call(basic_auth("acme", "guess"), ip="203.0.113.5"))
    # The integration that already proved it knows the password keeps working...
    assert call(basic_auth("acme", API_PASSWORD), ip=integration).status_code == 200
    # ...and other users are not affected.
    assert call(basic_auth("globex", API_PASSWORD), ip="203.0.113.4").status_code == 200


def test_failures_for_an_unknown_username_are_throttled_too(db, settings):
    settings.API_AUTH_MAX_FAILURES_PER_IP = 100
    settings.API_AUTH_MAX_FAILURES_PER_USER = 2

    assert_refused(call(basic_auth("ghost", "a"), ip="203.0.113.1"), UNKNOWN)
    assert_refused(call(basic_auth("ghost", "b"), ip="203.0.113.2"), UNKNOWN)

    assert_throttled(call(basic_auth("ghost", "c"), ip="203.0.113.3"))


def test_refusals_for_a_foreign_ip_count_as_failures(api_user, settings):
    settings.API_AUTH_MAX_FAILURES_PER_IP = 2
    api_credential_set_allowed_ips(user=api_user, allowed_ips=["203.0.113.7"])

    assert_refused(call(basic_auth("acme", API_PASSWORD), ip="198.51.100.1"), IP_NOT_ALLOWED)
    assert_refused(call(basic_auth("acme", API_PASSWORD), ip="198.51.100.1"), IP_NOT_ALLOWED)

    assert_throttled(call(basic_auth("acme", API_PASSWORD), ip="198.51.100.1"))


def test_successful_calls_are_never_throttled(api_user, settings):
    settings.API_AUTH_MAX_FAILURES_PER_IP = 2
    settings.API_AUTH_MAX_FAILURES_PER_USER = 2

    responses = [call(basic_auth("acme", API_PASSWORD)) for _ in range(5)]

    assert [response.status_code for response in responses] == [200] * 5
