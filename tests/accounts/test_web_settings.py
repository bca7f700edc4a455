"""Account settings pages: API password rotation (shown once), IP allowlist, verified senders,
event notification URL and webhook secret, provider choice per channel. Always the signed-in
user's own account."""

import pytest
from django.urls import reverse

from accounts.models import ApiCredential, VerifiedSender
from accounts.services import api_password_matches, verified_sender_add
from messaging.models import ProviderRoute
from tests.conftest import API_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(client, api_user):
    client.force_login(api_user)
    return client


def test_overview_shows_the_account_and_its_settings(web, account):
    body = web.get("/settings/").content.decode()
    assert "ACME" in body
    assert "news@acme.test" in body
    assert "platform default" in body


def test_rotating_the_api_password_shows_the_new_one_once_and_the_old_one_stops_working(web, api_user):
    response = web.post("/settings/api/rotate/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    password = response.context["password"]
    assert password in response.content.decode()
    credential = ApiCredential.objects.get(user=api_user)
    assert api_password_matches(credential=credential, password=password)
    assert not api_password_matches(credential=credential, password=API_PASSWORD)
    assert password not in web.get("/settings/api/").content.decode()


def test_rotation_needs_a_post(web):
    assert web.get("/settings/api/rotate/").status_code == 405


def test_allowlist_is_saved_one_address_or_range_per_line(web, api_user):
    response = web.post("/settings/api/", {"allowed_ips": "203.0.113.7\n198.51.100.0/24"})
    assert response.status_code == 302
    assert ApiCredential.objects.get(user=api_user).allowed_ips == ["203.0.113.7", "198.51.100.0/24"]


def test_a_bad_allowlist_entry_is_shown_beside_the_field_and_nothing_changes(web, api_user):
    response = web.post("/settings/api/", {"allowed_ips": "203.0.113.7\nnot-an-ip"})
    assert response.status_code == 200
    assert "not-an-ip is not an IP address or CIDR range." in response.content.decode()
    assert "not-an-ip" in response.content.decode()  # input kept
    assert ApiCredential.objects.get(user=api_user).allowed_ips == []


def test_senders_are_added_normalised_and_removed(web, account):
    response = web.post("/settings/senders/", {"email": "  Sales@ACME.test "})
    assert response.status_code == 302
    sender = VerifiedSender.objects.get(account=account, email="sales@acme.test")
    assert web.post(f"/settings/senders/{sender.pk}/remove/").status_code == 302
    assert not VerifiedSender.objects.filter(pk=sender.pk).exists()


def test_an_invalid_sender_address_is_refused_beside_the_field(web, account):
    response = web.post("/settings/senders/", {"email": "not an address"})
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert VerifiedSender.objects.filter(account=account).count() == 1


def test_another_accounts_sender_cannot_be_removed_and_answers_404_like_a_missing_one(web, other_user):
    foreign = verified_sender_add(account=other_user.account, email="boss@globex.test")
    assert web.post(f"/settings/senders/{foreign.pk}/remove/").status_code == 404
    assert web.post("/settings/senders/999999/remove/").status_code == 404
    assert VerifiedSender.objects.filter(pk=foreign.pk).exists()


def test_notification_url_is_saved_and_gets_a_webhook_secret(web, account):
    response = web.post("/settings/notifications/", {"event_notification_url": "https://hooks.acme.test/events"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.event_notification_url == "https://hooks.acme.test/events"
    assert len(account.webhook_secret) == 64


def test_a_notification_url_that_is_not_http_is_refused(web, account):
    response = web.post("/settings/notifications/", {"event_notification_url": "ftp://hooks.acme.test/"})
    assert response.status_code == 200
    assert "Enter" in response.content.decode()
    account.refresh_from_db()
    assert account.event_notification_url == ""


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "the address 169.254.169.254 is link-local"),
        ("http://192.168.1.10:8080/events", "the address 192.168.1.10 is private"),
        ("http://localhost:8000/events", "localhost is a loopback name"),
    ],
)
def test_a_notification_url_to_a_non_public_address_is_refused_beside_the_field(web, account, settings, url, reason):
    settings.OUTBOUND_ALLOWED_HOSTS = []  # tests/conftest.py allows 127.0.0.1 for the fake receivers
    response = web.post("/settings/notifications/", {"event_notification_url": url})
    assert response.status_code == 200
    assert response.context["form"].errors["event_notification_url"] == [f"This URL cannot be called: {reason}."]
    account.refresh_from_db()
    assert account.event_notification_url == "" and account.webhook_secret == ""


def test_a_notification_url_of_an_allowed_internal_host_is_saved(web, account, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["receiver.internal"]
    response = web.post("/settings/notifications/", {"event_notification_url": "http://receiver.internal/events"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.event_notification_url == "http://receiver.internal/events"


def test_the_admin_refuses_an_event_notification_url_to_a_non_public_address(admin_client, account, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    url = reverse("admin:accounts_account_change", args=[account.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update(
        {
            "event_notification_url": "http://10.0.0.7/events",
            "verified_senders-TOTAL_FORMS": "0",
            "verified_senders-INITIAL_FORMS": "0",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"event_notification_url": ["This URL cannot be called: the address 10.0.0.7 is private."]}
    account.refresh_from_db()
    assert account.event_notification_url == ""

    data["event_notification_url"] = "https://hooks.acme.test/events"
    assert admin_client.post(url, data).status_code == 302
    account.refresh_from_db()
    assert account.event_notification_url == "https://hooks.acme.test/events"


def test_rotating_the_webhook_secret_shows_it_once(web, account):
    response = web.post("/settings/notifications/secret/")
    account.refresh_from_db()
    assert response.context["new_secret"] == account.webhook_secret
    assert "no-store" in response["Cache-Control"]
    assert account.webhook_secret not in web.get("/settings/notifications/").content.decode()


def test_provider_choice_per_channel_and_back_to_the_default(web, account):
    response = web.post("/settings/providers/", {"sms": "http_gateway", "mailing": "", "landing": ""})
    assert response.status_code == 302
    route = ProviderRoute.objects.get(account=account, channel="sms")
    assert route.provider == "http_gateway"
    web.post("/settings/providers/", {"sms": "", "mailing": "", "landing": ""})
    assert not ProviderRoute.objects.filter(account=account).exists()


def test_a_provider_that_does_not_carry_the_channel_is_refused(web, account):
    response = web.post("/settings/providers/", {"sms": "smtp", "mailing": "", "landing": ""})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ProviderRoute.objects.filter(account=account).exists()


def test_changing_provider_drops_the_previous_providers_settings(web, account):
    ProviderRoute.objects.create(account=account, channel="sms", provider="twilio", settings={"account_sid": "AC1"})
    web.post("/settings/providers/", {"sms": "twilio", "mailing": "", "landing": ""})
    assert ProviderRoute.objects.get(account=account, channel="sms").settings == {"account_sid": "AC1"}
    web.post("/settings/providers/", {"sms": "simulator", "mailing": "", "landing": ""})
    route = ProviderRoute.objects.get(account=account, channel="sms")
    assert (route.provider, route.settings) == ("simulator", {})


def test_settings_never_touch_another_account(web, account, other_user):
    web.post("/settings/providers/", {"sms": "http_gateway", "mailing": "", "landing": ""})
    web.post("/settings/notifications/", {"event_notification_url": "https://hooks.acme.test/events"})
    other = other_user.account
    other.refresh_from_db()
    assert other.event_notification_url == ""
    assert not ProviderRoute.objects.filter(account=other).exists()
