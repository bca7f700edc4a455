"""The `create_api_user` and `demo` management commands."""

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.management.commands import create_api_user as create_api_user_command
from accounts.models import Account, ApiCredential, User, VerifiedSender
from accounts.services import api_password_matches
from contacts.models import Contact, CustomField, Group, Membership
from tests.conftest import API_PASSWORD, basic_auth

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls_auth")]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Login passwords are set and checked many times here; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def whoami(username: str, password: str, ip: str = "198.51.100.10"):
    return APIClient().get("/api/rest/whoami", HTTP_AUTHORIZATION=basic_auth(username, password), REMOTE_ADDR=ip)


def snapshot() -> dict:
    """Everything the command may write, to prove a refused run changed nothing."""
    return {
        "accounts": list(Account.objects.order_by("id").values()),
        "users": list(User.objects.order_by("id").values()),
        "credentials": list(ApiCredential.objects.order_by("id").values()),
        "senders": list(VerifiedSender.objects.order_by("id").values("account_id", "email")),
    }


# ---------------------------------------------------------------------------------------------
# create_api_user


def test_create_api_user_creates_account_user_credential_senders_and_allowlist():
    output = run(
        "create_api_user",
        "shop",
        "--api-password", "shop-api-password-1",
        "--password", "shop-login-password-1",
        "--account", "Shop Ltd",
        "--balance", "25.50",
        "--sender", "News@Shop.test",
        "--sender", "billing@shop.test",
        "--email", "ops@shop.test",
        "--allow-ip", "203.0.113.7",
        "--allow-ip", "198.51.100.0/24",
    )  # fmt: skip

    user = User.objects.select_related("account").get(username="shop")
    assert user.account.name == "Shop Ltd"
    assert user.account.balance == Decimal("25.50")
    assert user.email == "ops@shop.test"
    assert user.check_password("shop-login-password-1")
    assert not user.is_staff
    assert sorted(user.account.verified_senders.values_list("email", flat=True)) == [
        "billing@shop.test",
        "news@shop.test",
    ]
    assert user.api_credential.allowed_ips == ["203.0.113.7", "198.51.100.0/24"]
    assert api_password_matches(credential=user.api_credential, password="shop-api-password-1")
    assert 'Created API user "shop" in account "Shop Ltd".' in output
    assert "Balance: 25.5 EUR" in output
    assert "Verified senders: billing@shop.test, news@shop.test" in output
    assert "API allowed from: 203.0.113.7, 198.51.100.0/24" in output
    assert "shop-api-password-1" not in output
    assert "shop-login-password-1" not in output
    assert whoami("shop", "shop-api-password-1", ip="198.51.100.20").json() == {"data": {"account": "Shop Ltd"}}
    assert whoami("shop", "shop-api-password-1", ip="192.0.2.1").json()["error"]["code"] == 112


def test_web_login_works_only_when_a_login_password_is_given():
    run("create_api_user", "withlogin", "--api-password", "api-pass-1", "--password", "login-pass-1")
    run("create_api_user", "apionly", "--api-password", "api-pass-2")

    assert Client().login(username="withlogin", password="login-pass-1")
    assert not User.objects.get(username="apionly").has_usable_password()
    assert not Client().login(username="apionly", password="api-pass-2")


def test_new_user_without_account_option_gets_an_account_named_after_it():
    run("create_api_user", "solo", "--api-password", "api-pass-1")

    assert User.objects.get(username="solo").account.name == "solo"


def test_without_api_password_a_strong_one_is_generated_and_printed_once():
    output = run("create_api_user", "gen", "--account", "Gen")

    match = re.search(r"API password \(shown once, store it now\): (\S+)", output)
    assert match, output
    password = match.group(1)
    assert len(password) * 6 >= 128  # URL-safe base64: 6 bits per character
    assert output.count(password) == 1
    assert whoami("gen", password).status_code == 200
    assert password not in ApiCredential.objects.get(user__username="gen").password_hmac


def test_update_keeps_the_users_account_and_login_and_adds_to_it(api_user):
    api_user.set_password("acme-login-password")
    api_user.save()
    hmac_before = api_user.api_credential.password_hmac

    output = run(
        "create_api_user", "acme", "--api-password", API_PASSWORD, "--balance", "5", "--sender", "sales@acme.test"
    )

    user = User.objects.select_related("account").get(username="acme")
    assert user.account_id == api_user.account_id
    assert not Account.objects.filter(name="acme").exists()
    assert user.account.balance == Decimal("5")
    assert sorted(user.account.verified_senders.values_list("email", flat=True)) == [
        "news@acme.test",
        "sales@acme.test",
    ]
    assert user.check_password("acme-login-password")
    assert user.api_credential.password_hmac == hmac_before
    assert 'Updated API user "acme" in account "ACME".' in output


def test_update_without_api_password_rotates_it(api_user):
    output = run("create_api_user", "acme")

    new_password = re.search(r"shown once, store it now\): (\S+)", output).group(1)
    assert whoami("acme", API_PASSWORD).status_code == 401
    assert whoami("acme", new_password).status_code == 200


def test_allowlist_is_replaced_when_given_and_kept_when_omitted(api_user):
    run("create_api_user", "acme", "--api-password", API_PASSWORD, "--allow-ip", "203.0.113.7")
    run("create_api_user", "acme", "--api-password", API_PASSWORD, "--balance", "1")
    assert ApiCredential.objects.get(user=api_user).allowed_ips == ["203.0.113.7"]

    run("create_api_user", "acme", "--api-password", API_PASSWORD, "--allow-ip", "2001:db8::/32")
    assert ApiCredential.objects.get(user=api_user).allowed_ips == ["2001:db8::/32"]


def test_running_the_same_command_twice_changes_nothing_the_second_time():
    args = [
        "create_api_user", "twice", "--api-password", "api-pass-1", "--account", "Twice",
        "--balance", "10", "--sender", "a@twice.test", "--allow-ip", "203.0.113.0/24",
    ]  # fmt: skip
    run(*args)
    first = snapshot()

    output = run(*args)

    second = snapshot()
    for row in first["credentials"] + second["credentials"]:
        row.pop("rotated_at")  # records the time of the last write, so it moves
    assert second == first
    assert "Updated" in output


@pytest.mark.parametrize(
    ("bad_args", "message"),
    [
        (["--balance", "abc"], "Invalid --balance 'abc'"),
        (["--balance", "-1"], "Invalid --balance '-1'"),
        (["--balance", "NaN"], "Invalid --balance 'NaN'"),
        (["--balance", "1.23456"], "Invalid --balance '1.23456'"),
        (["--balance", "12345678901"], "Invalid --balance '12345678901'"),
        (["--sender", "not-an-email"], "Invalid --sender 'not-an-email'"),
        (["--sender", "ok@acme.test", "--sender", "two@@acme.test"], "Invalid --sender 'two@@acme.test'"),
        (["--allow-ip", "300.1.1.1"], "Invalid --allow-ip '300.1.1.1'"),
        (["--allow-ip", "10.0.0.0/33"], "Invalid --allow-ip '10.0.0.0/33'"),
        (["--allow-ip", "203.0.113.7", "--allow-ip", "office"], "Invalid --allow-ip 'office'"),
        (["--email", "ops@"], "Invalid --email 'ops@'"),
        (["--api-password", ""], "The API password may not be empty"),
        (["--password", " "], "The login password may not be empty"),
        (["--account", ""], "The account name must have between 1 and 150 characters"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(api_user, bad_args, message):
    before = snapshot()

    # Valid changes alongside the bad one must not be applied either.
    for username in ["acme", "newcomer"]:
        with pytest.raises(CommandError, match=re.escape(message)):
            run("create_api_user", username, "--balance", "7", "--sender", "extra@acme.test", *bad_args)

    assert snapshot() == before


def test_invalid_username_is_refused(db):
    with pytest.raises(CommandError, match="Invalid username 'bad name!'"):
        run("create_api_user", "bad name!", "--api-password", "x")

    assert not User.objects.exists()


def test_failure_after_the_first_writes_rolls_everything_back(db, monkeypatch):
    def refuse(**kwargs):
        raise ValidationError("203.0.113.7 is not an IP address or CIDR range.")

    monkeypatch.setattr(create_api_user_command, "api_credential_set_allowed_ips", refuse)

    with pytest.raises(CommandError, match="is not an IP address"):
        run("create_api_user", "halfway", "--account", "Halfway", "--allow-ip", "203.0.113.7")

    assert not User.objects.filter(username="halfway").exists()
    assert not Account.objects.filter(name="Halfway").exists()


# ---------------------------------------------------------------------------------------------
# demo


def demo_logins(output: str) -> dict[str, str]:
    return {
        "web": re.search(r"Web login:\s+demo / (\S+)", output).group(1),
        "api": re.search(r"API password:\s+demo / (\S+)", output).group(1),
        "admin": re.search(r"Admin login:\s+admin / (\S+)", output).group(1),
    }


def test_demo_creates_a_ready_to_try_account_and_operator_and_prints_how_to_use_them(settings):
    settings.PUBLIC_URL = "https://campaigns.example.com"

    output = run("demo")

    logins = demo_logins(output)
    for url in [
        "https://campaigns.example.com/",
        "https://campaigns.example.com/admin/",
        "https://campaigns.example.com/api/docs/",
        "https://campaigns.example.com/api/rest/",
    ]:
        assert url in output
    demo = User.objects.select_related("account").get(username="demo")
    assert demo.account.name == "Demo"
    assert demo.account.balance == Decimal("100")
    assert not demo.is_staff and not demo.is_superuser and demo.is_active
    assert list(demo.account.verified_senders.values_list("email", flat=True)) == ["demo@example.com"]
    operator = User.objects.get(username="admin")
    assert operator.is_superuser and operator.is_staff and operator.account is None
    assert len(set(logins.values())) == 3  # three different random passwords

    contacts = Contact.objects.filter(account=demo.account)
    assert contacts.count() == 50
    assert Group.objects.filter(account=demo.account).count() >= 2
    assert set(CustomField.objects.filter(account=demo.account).values_list("key", flat=True)) == {
        "city",
        "birthday",
        "loyalty_points",
    }
    assert all(set(contact.custom_fields) == {"city", "birthday", "loyalty_points"} for contact in contacts)
    assert Membership.objects.filter(contact__account=demo.account).count() >= 50


def test_demo_printed_passwords_work_for_the_web_ui_the_api_and_the_admin():
    logins = demo_logins(run("demo"))

    web = Client()
    assert web.login(username="demo", password=logins["web"])
    assert web.get("/").status_code == 200
    assert web.get("/admin/").status_code == 302  # not staff: sent to the admin login
    assert whoami("demo", logins["api"]).json() == {"data": {"account": "Demo"}}
    operator = Client()
    assert operator.login(username="admin", password=logins["admin"])
    assert operator.get("/admin/").status_code == 200


def test_demo_is_idempotent_and_resets_the_passwords():
    first = demo_logins(run("demo"))
    demo_account = Account.objects.get(name="Demo")
    Account.objects.filter(pk=demo_account.pk).update(balance=Decimal("3"))
    counts_before = (Account.objects.count(), User.objects.count(), Group.objects.count(), Contact.objects.count())

    output = run("demo")

    second = demo_logins(output)
    assert "0 contacts added" in output
    assert (Account.objects.count(), User.objects.count(), Group.objects.count(), Contact.objects.count()) == (
        counts_before
    )
    assert Account.objects.get(name="Demo").balance == Decimal("100")
    assert whoami("demo", first["api"]).status_code == 401
    assert whoami("demo", second["api"]).status_code == 200
    assert not Client().login(username="admin", password=first["admin"])
    assert Client().login(username="admin", password=second["admin"])


def test_demo_keeps_contacts_the_user_edited():
    run("demo")
    contact = Contact.objects.get(email="contact01@example.com")
    contact.name = "Edited"
    contact.save()

    run("demo")

    assert Contact.objects.get(pk=contact.pk).name == "Edited"
    assert Contact.objects.filter(account__name="Demo").count() == 50


def test_demo_password_option_sets_every_password():
    output = run("demo", "--password", "demo-fixed-pass")

    assert demo_logins(output) == {"web": "demo-fixed-pass", "api": "demo-fixed-pass", "admin": "demo-fixed-pass"}
    assert Client().login(username="demo", password="demo-fixed-pass")
    assert whoami("demo", "demo-fixed-pass").status_code == 200


def test_demo_refuses_to_take_over_an_existing_tenant_user_named_admin(api_user):
    User.objects.create_user("admin", password="tenant-password", account=api_user.account)
    before = snapshot()

    with pytest.raises(CommandError, match='A user "admin" already exists in an account'):
        run("demo")

    assert snapshot() == before
    assert not Contact.objects.exists()


def test_demo_refuses_to_take_over_a_demo_user_of_another_account(api_user):
    User.objects.create_user("demo", password="tenant-password", account=api_user.account)

    with pytest.raises(CommandError, match='A user "demo" already exists and is not the demo user'):
        run("demo")

    assert not Account.objects.filter(name="Demo").exists()
