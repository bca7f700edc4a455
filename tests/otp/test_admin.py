import pytest
from django.urls import reverse

from otp.models import OtpCode
from otp.services import OtpConfig, otp_generate


@pytest.fixture
def codes(account, other_user):
    otp_generate(account=account, recipient="34666555444", config=OtpConfig(app_id="login"))
    otp_generate(account=other_user.account, recipient="user@example.com", config=OtpConfig())
    return list(OtpCode.objects.order_by("id"))


def test_the_admin_lists_codes_without_their_hash(admin_client, codes):
    response = admin_client.get(reverse("admin:otp_otpcode_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "34666555444" in html and "user@example.com" in html
    assert all(otp.code_hash not in html for otp in codes)


def test_the_admin_detail_page_never_shows_the_hash(admin_client, codes):
    response = admin_client.get(reverse("admin:otp_otpcode_change", args=[codes[0].pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "login" in html
    assert codes[0].code_hash not in html
    assert "code_hash" not in html


def test_the_admin_searches_codes_by_recipient(admin_client, codes):
    html = admin_client.get(reverse("admin:otp_otpcode_changelist"), {"q": "example.com"}).content.decode()

    assert "user@example.com" in html
    assert "34666555444" not in html


def test_the_admin_filters_codes_by_the_state_a_check_would_see(admin_client, account, codes):
    exhausted = codes[0]
    exhausted.attempts = exhausted.max_attempts
    exhausted.save()
    changelist = reverse("admin:otp_otpcode_changelist")

    live = admin_client.get(changelist, {"state": "live"}).content.decode()
    used_up = admin_client.get(changelist, {"state": "exhausted"}).content.decode()
    expired = admin_client.get(changelist, {"state": "expired"}).content.decode()

    assert "user@example.com" in live and "34666555444" not in live
    assert "34666555444" in used_up and "user@example.com" not in used_up
    assert "34666555444" not in expired and "user@example.com" not in expired


def test_codes_cannot_be_added_or_edited_in_the_admin(admin_client, codes):
    assert admin_client.get(reverse("admin:otp_otpcode_add")).status_code == 403
    response = admin_client.post(reverse("admin:otp_otpcode_change", args=[codes[0].pk]), {"attempts": 0})
    assert response.status_code == 403
