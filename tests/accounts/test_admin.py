"""The operators' admin for accounts, users, API credentials, senders, campaigns and sendings."""

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Account, ApiCredential, User, VerifiedSender
from accounts.services import api_credential_set_allowed_ips
from campaigns.models import Campaign, Sending
from tests.conftest import API_PASSWORD, basic_auth

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls_auth")]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def campaign(account) -> Campaign:
    return Campaign.objects.create(account=account, name="Spring sale")


@pytest.fixture
def sending(account, campaign) -> Sending:
    return Sending.objects.create(account=account, campaign=campaign, channel="sms")


def whoami(username: str, password: str):
    return APIClient().get("/api/rest/whoami", HTTP_AUTHORIZATION=basic_auth(username, password))


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


# ---------------------------------------------------------------------------------------------
# Every registered model renders


@pytest.fixture
def objects(api_user, other_user, campaign, sending) -> dict:
    return {
        Account: api_user.account,
        User: api_user,
        VerifiedSender: VerifiedSender.objects.get(account=api_user.account),
        Campaign: campaign,
        Sending: sending,
    }


@pytest.mark.parametrize("model", [Account, User, VerifiedSender, Campaign, Sending])
def test_changelist_add_and_change_pages_render(admin_client, objects, model):
    obj = objects[model]

    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    assert admin_client.get(admin_url(model, "changelist"), {"q": "acme"}).status_code == 200
    assert admin_client.get(admin_url(model, "add")).status_code == (403 if model is Sending else 200)
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200


def test_sendings_are_view_only_because_the_engine_keeps_them(admin_client, sending):
    response = admin_client.post(admin_url(Sending, "change", sending.pk), {"status": "CANCELLED"})

    assert response.status_code == 403
    assert Sending.objects.get(pk=sending.pk).status == "PENDING"


def test_account_list_counts_users(admin_client, api_user):
    User.objects.create_user("second", account=api_user.account)

    response = admin_client.get(admin_url(Account, "changelist"))

    rows = {account.name: account.users_count for account in response.context["cl"].result_list}
    assert rows == {"ACME": 2}


def test_sending_search_by_id_finds_it_and_text_does_not_fail(admin_client, sending, other_user):
    Sending.objects.create(account=other_user.account, channel="mailing")

    by_id = admin_client.get(admin_url(Sending, "changelist"), {"q": str(sending.pk)})
    by_text = admin_client.get(admin_url(Sending, "changelist"), {"q": "not-a-number"})

    assert [row.pk for row in by_id.context["cl"].result_list] == [sending.pk]
    assert by_text.status_code == 200
    assert list(by_text.context["cl"].result_list) == []


@pytest.mark.parametrize(
    ("app_label", "model_name", "field_name", "term", "expected"),
    [
        ("accounts", "user", "account", "AC", "ACME"),
        ("accounts", "verifiedsender", "account", "acm", "ACME"),
        ("campaigns", "campaign", "account", "acme", "ACME"),
        ("campaigns", "sending", "campaign", "spring", "Spring sale"),
    ],
)
def test_autocomplete_fields_search(admin_client, objects, app_label, model_name, field_name, term, expected):
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": term},
    )

    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == [expected]


# ---------------------------------------------------------------------------------------------
# Users and API credentials


def test_user_page_shows_the_credential_dates_but_never_the_hash(admin_client, api_user):
    credential = ApiCredential.objects.get(user=api_user)

    response = admin_client.get(admin_url(User, "change", api_user.pk))

    html = response.content.decode()
    assert credential.password_hmac not in html
    assert "password_hmac" not in html
    assert API_PASSWORD not in html
    assert "Last used at" in html
    assert "Rotated at" in html


def user_change_post_data(response) -> dict:
    """The user change form as a browser would submit it unchanged."""
    user = response.context["original"]
    data = {
        "username": user.username,
        "email": user.email,
        "account": user.account_id or "",
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        for form in formset.forms:
            data[form.add_prefix("id")] = form.instance.pk
            data[form.add_prefix("user")] = user.pk
            data[form.add_prefix("allowed_ips")] = "\n".join(form.instance.allowed_ips)
    return data


def test_allowed_ips_are_edited_one_per_line_and_applied(admin_client, api_user):
    url = admin_url(User, "change", api_user.pk)
    data = user_change_post_data(admin_client.get(url))
    hmac_before = ApiCredential.objects.get(user=api_user).password_hmac
    data["api_credential-0-allowed_ips"] = " 203.0.113.7\n198.51.100.0/24, 2001:db8::/32 \n"

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    credential = ApiCredential.objects.get(user=api_user)
    assert credential.allowed_ips == ["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"]
    assert credential.password_hmac == hmac_before
    assert whoami("acme", API_PASSWORD).json()["error"]["code"] == 112  # testserver is 127.0.0.1


def test_invalid_allowed_ip_is_refused_and_changes_nothing(admin_client, api_user):
    api_credential_set_allowed_ips(user=api_user, allowed_ips=["203.0.113.7"])
    url = admin_url(User, "change", api_user.pk)
    data = user_change_post_data(admin_client.get(url))
    data["api_credential-0-allowed_ips"] = "198.51.100.0/24\noffice-network"
    data["email"] = "changed@acme.test"

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "office-network is not an IP address or CIDR range." in response.content.decode()
    assert ApiCredential.objects.get(user=api_user).allowed_ips == ["203.0.113.7"]
    assert User.objects.get(pk=api_user.pk).email == ""


def test_deleting_the_credential_revokes_api_access(admin_client, api_user):
    url = admin_url(User, "change", api_user.pk)
    data = user_change_post_data(admin_client.get(url))
    data["api_credential-0-DELETE"] = "on"

    assert admin_client.post(url, data).status_code == 302

    assert not ApiCredential.objects.filter(user=api_user).exists()
    assert whoami("acme", API_PASSWORD).status_code == 401


def test_user_is_created_in_an_account_from_the_add_form(admin_client, account):
    response = admin_client.post(
        admin_url(User, "add"),
        {
            "username": "newbie",
            "account": account.pk,
            "email": "newbie@acme.test",
            "usable_password": "true",
            "password1": "a-long-enough-password-42",
            "password2": "a-long-enough-password-42",
        },
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    user = User.objects.get(username="newbie")
    assert user.account == account
    assert user.check_password("a-long-enough-password-42")


def rotate(admin_client, *users: User, follow: bool = False):
    return admin_client.post(
        admin_url(User, "changelist"),
        {"action": "rotate_api_password", "_selected_action": [user.pk for user in users]},
        follow=follow,
    )


def shown_passwords(response) -> dict[str, str]:
    html = response.content.decode()
    return dict(re.findall(r"New API password for (\S+) \([^)]*\): <code class=\"api-password\">([^<]+)</code>", html))


def test_rotate_action_shows_the_new_password_once_and_the_old_one_stops_working(admin_client, api_user):
    response = rotate(admin_client, api_user)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new_password = shown_passwords(response)["acme"]
    assert new_password != API_PASSWORD
    assert whoami("acme", API_PASSWORD).status_code == 401
    assert whoami("acme", new_password).json() == {"data": {"account": "ACME"}}
    # Shown once: not stored for a later page, nor in a cookie.
    assert all(new_password not in morsel.value for morsel in response.cookies.values())
    later = admin_client.get(admin_url(User, "changelist"))
    assert new_password not in later.content.decode()


def test_rotate_action_creates_the_credential_when_missing_and_handles_several_users(
    admin_client, api_user, other_user, account
):
    web_only = User.objects.create_user("webonly", account=account)

    passwords = shown_passwords(rotate(admin_client, api_user, other_user, web_only))

    assert set(passwords) == {"acme", "globex", "webonly"}
    assert len(set(passwords.values())) == 3
    assert ApiCredential.objects.filter(user=web_only).exists()
    assert whoami("webonly", passwords["webonly"]).status_code == 200
    assert whoami("globex", passwords["globex"]).status_code == 200


def test_rotate_action_skips_users_without_account(admin_client, admin_user):
    response = rotate(admin_client, admin_user, follow=True)

    assert "Not rotated (API users need an account): admin." in response.content.decode()
    assert not ApiCredential.objects.filter(user=admin_user).exists()


# ---------------------------------------------------------------------------------------------
# Verified senders


def test_verified_sender_is_stored_trimmed_and_lower_case(admin_client, account):
    response = admin_client.post(
        admin_url(VerifiedSender, "add"), {"account": account.pk, "email": "  Sales@ACME.test "}
    )

    assert response.status_code == 302
    assert VerifiedSender.objects.filter(account=account, email="sales@acme.test").exists()


@pytest.mark.parametrize("email", ["not-an-email", "NEWS@acme.test"])
def test_invalid_or_duplicate_verified_sender_is_refused(admin_client, account, email):
    before = list(VerifiedSender.objects.values_list("email", flat=True))

    response = admin_client.post(admin_url(VerifiedSender, "add"), {"account": account.pk, "email": email})

    assert response.status_code == 200
    assert response.context["errors"]
    assert list(VerifiedSender.objects.values_list("email", flat=True)) == before


def test_verified_senders_are_edited_inline_on_the_account(admin_client, account):
    url = admin_url(Account, "change", account.pk)
    response = admin_client.get(url)
    formset = response.context["inline_admin_formsets"][0].formset
    sender = VerifiedSender.objects.get(account=account)
    data = {
        "name": account.name,
        "timezone": account.timezone,
        "language": account.language,
        "country": account.country,
        "currency": account.currency,
        "balance": str(account.balance),
        f"{formset.prefix}-TOTAL_FORMS": "2",
        f"{formset.prefix}-INITIAL_FORMS": "1",
        f"{formset.prefix}-MIN_NUM_FORMS": "0",
        f"{formset.prefix}-MAX_NUM_FORMS": "1000",
        f"{formset.prefix}-0-id": sender.pk,
        f"{formset.prefix}-0-account": account.pk,
        f"{formset.prefix}-0-email": sender.email,
        f"{formset.prefix}-1-account": account.pk,
        f"{formset.prefix}-1-email": "Billing@ACME.test",
    }

    assert admin_client.post(url, data).status_code == 302

    assert sorted(account.verified_senders.values_list("email", flat=True)) == ["billing@acme.test", "news@acme.test"]
