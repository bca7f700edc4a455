"""The compose page and the dashboard in Debian's chromium: sign in through the login form, type
an SMS with a variable and a non-GSM character, and watch the server-computed counter switch to
UTF-16; screenshots `dashboard` and `compose`. Waits use Playwright's locator assertions: its
`wait_for_function` evaluates a string, which the pages' CSP (no 'unsafe-eval') refuses."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, Sending, SendingStatus
from contacts.models import Contact, Group, Membership
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-pass-1234"


@pytest.fixture
def staff(api_user):
    api_user.set_password(PASSWORD)
    api_user.save()
    account = api_user.account
    group = Group.objects.create(account=account, name="Customers")
    for index, name in enumerate(["Ana", "Bruno", "Carla"]):
        contact = Contact.objects.create(account=account, phone=f"3466600000{index}", country_iso="ES", name=name)
        Membership.objects.create(contact=contact, group=group)
    campaign = Campaign.objects.create(account=account, name="Spring sale")
    Sending.objects.create(
        account=account, campaign=campaign, channel="sms", status=SendingStatus.FINISHED, total=120, processed=120,
        sent=120, delivered=104, undelivered=16,
    )  # fmt: skip
    # Three weeks of history, so the daily chart has something to show.
    for day in range(1, 22, 2):
        for channel, total in (("sms", 40 + day * 7 % 50), ("mailing", 20 + day * 13 % 35)):
            past = Sending.objects.create(
                account=account,
                channel=channel,
                status=SendingStatus.FINISHED,
                total=total,
                processed=total,
                sent=total,
                delivered=total * 9 // 10,
                opened_unique=total // 3 if channel == "mailing" else 0,
                clicked_unique=total // 10,
            )
            Sending.objects.filter(pk=past.pk).update(created_at=timezone.now() - timedelta(days=day))
    newsletter = Campaign.objects.create(account=account, name="Newsletter")
    Sending.objects.create(
        account=account, campaign=newsletter, channel="mailing", status=SendingStatus.SENDING, total=80, processed=60,
        sent=60, delivered=55, opened_unique=30, clicked_unique=9,
    )  # fmt: skip
    return api_user


def sign_in(page) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill("acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def test_dashboard_after_sign_in(page, staff):
    sign_in(page)
    assert page.locator("#balance").inner_text() == "100.00 EUR"
    assert page.locator("svg.chart").count() == 2
    assert "Newsletter" in page.locator("#in-progress-title + table").inner_text()
    screenshot(page, "dashboard")


def test_sms_counter_switches_to_utf16_for_a_non_gsm_character(page, staff):
    sign_in(page)
    page.goto("/compose/")
    page.get_by_label("Customers").check()
    expect(page.locator("#audience-count")).to_have_text(re.compile(r"^3 "))
    page.get_by_label("Sender (from)").fill("ACME")
    message = page.get_by_label("Message", exact=True)
    message.fill("Hola {name}, your order is ready")
    expect(page.locator("#preview-sms")).to_have_text(re.compile(r"^Hola Ana,"))
    assert page.locator("#counter-encoding").inner_text() == "GSM-7"

    message.press("End")
    message.type(" ✓")
    expect(page.locator("#counter-encoding")).to_have_text("UTF-16")
    assert "✓" in page.locator("#counter-forcing").inner_text()
    assert page.locator("#counter-parts").inner_text().startswith("1")
    assert "Estimated cost" in page.locator("#cost-estimate").inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "compose")


def test_compose_page_fits_a_phone_screen(page, staff):
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page)
    page.goto("/compose/")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    page.get_by_label("Message", exact=True).focus()
    page.keyboard.type("Hola {name}")
    expect(page.locator("#counter-chars")).to_have_text(re.compile(r"^11 "))
    screenshot(page, "compose-phone")
