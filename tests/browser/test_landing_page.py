"""A recipient opens their landing page in a real browser, follows nothing, and unsubscribes."""

import pytest

from campaigns.sending.channels.landing import landing_sms_send
from contacts.models import BlacklistEntry, Contact
from messaging.models import Event
from tests.browser.conftest import screenshot
from tracking.models import ShortLink

TEMPLATE = """<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spring offer</title><style>
body { font-family: sans-serif; margin: 0; background: #fff6e9; color: #3b2a14; }
.hero { padding: 2rem 1.25rem; background: #f28c28; color: #fff; }
.card { margin: 1.25rem; padding: 1.25rem; background: #fff; border-radius: 8px; }
a.cta { display: inline-block; padding: .75rem 1.25rem; background: #1f5fbf; color: #fff; border-radius: 6px; }
</style><script>document.title = "script ran";</script></head>
<body><div class="hero"><h1>Hello {name}!</h1><p>Your spring coupon: <strong>{coupon}</strong></p></div>
<div class="card"><p>Valid in {city} until Sunday.</p>
<a class="cta" href="https://shop.example.com/spring">Shop now</a></div>
</body></html>"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_landing_page_renders_for_the_recipient_and_unsubscribes(page, live_server, api_user, settings):
    settings.PUBLIC_URL = live_server.url
    account = api_user.account
    Contact.objects.create(account=account, phone="34666555444", name="Ann", custom_fields={"city": "Vigo"})
    outcome = landing_sms_send(
        account=account,
        message="Spring offer {LAND_URL}",
        to=["34666555444"],
        sender="SHOP",
        template_body=TEMPLATE,
        sub=[{"coupon": "SPRING-25"}],
    )
    code = ShortLink.objects.get(message_public_id=outcome.results[0].message_id).code

    page.goto(f"/{code}")
    assert page.locator("h1").inner_text() == "Hello Ann!"
    assert page.get_by_text("SPRING-25").is_visible()
    assert page.title() == "Spring offer"  # the template's script never ran
    assert page.locator("a.cta").get_attribute("href").startswith(f"{live_server.url}/t/c/")
    screenshot(page, "landing-page")

    page.get_by_role("button", name="Unsubscribe from these messages").click()
    page.wait_for_selector("text=You have been unsubscribed")
    assert BlacklistEntry.objects.filter(account=account, recipient="34666555444").exists()
    assert set(Event.objects.values_list("type", flat=True)) == {"opened", "unsubscribed_landing"}
