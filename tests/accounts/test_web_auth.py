"""Sign-in to the staff UI: Django auth with a cache-based lockout, sign-out, password change."""

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(api_user) -> User:
    api_user.set_password(PASSWORD)
    api_user.save()
    return api_user


def sign_in(client: Client, username: str, password: str, ip: str = "198.51.100.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_pages_require_sign_in(client):
    for path in ("/", "/compose/", "/settings/", "/settings/api/", "/settings/senders/", "/settings/providers/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_sign_in_with_the_right_password_opens_the_dashboard(client, staff):
    response = sign_in(client, "acme", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_wrong_password_shows_a_plain_error_and_keeps_the_username(client, staff):
    response = sign_in(client, "acme", "wrong")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Please enter a correct username and password" in body
    assert 'value="acme"' in body


def test_five_failures_lock_the_username_out_even_with_the_right_password(client, staff):
    for _ in range(5):
        sign_in(client, "acme", "wrong")
    response = sign_in(client, "acme", PASSWORD)
    assert response.status_code == 200
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_counts_the_username_from_any_address(client, staff):
    for index in range(5):
        sign_in(client, "ACME", "wrong", ip=f"203.0.113.{index}")
    response = sign_in(client, "acme", PASSWORD, ip="192.0.2.1")
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_one_address_is_locked_out_after_failures_on_many_usernames(client, staff, settings):
    settings.LOGIN_MAX_FAILURES_PER_IP = 3
    for name in ("a", "b", "c"):
        sign_in(client, name, "wrong", ip="203.0.113.9")
    response = sign_in(client, "acme", PASSWORD, ip="203.0.113.9")
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert sign_in(Client(), "acme", PASSWORD, ip="203.0.113.10").status_code == 302


def test_a_successful_sign_in_resets_the_username_counter(client, staff):
    for _ in range(4):
        sign_in(client, "acme", "wrong")
    assert sign_in(client, "acme", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, "acme", "wrong")
    assert sign_in(client, "acme", PASSWORD).status_code == 302


def test_sign_out_ends_the_session(client, staff):
    client.force_login(staff)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_password_change_checks_the_old_password_and_keeps_the_session(client, staff):
    client.force_login(staff)
    response = client.post(
        "/settings/password/",
        {"old_password": "nope", "new_password1": "a-much-better-pass-42", "new_password2": "a-much-better-pass-42"},
    )
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()

    response = client.post(
        "/settings/password/",
        {"old_password": PASSWORD, "new_password1": "a-much-better-pass-42", "new_password2": "a-much-better-pass-42"},
    )
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.check_password("a-much-better-pass-42")
    assert client.get("/").status_code == 200  # still signed in


def test_a_user_without_an_account_is_sent_to_the_admin(client, db):
    operator = User.objects.create_user("operator", password=PASSWORD)
    client.force_login(operator)
    for path in ("/", "/compose/", "/settings/"):
        response = client.get(path)
        assert response.status_code == 403
        assert "belongs to no account" in response.content.decode()
