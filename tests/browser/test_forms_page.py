"""A recipient fills their personal form page in Debian's chromium: the browser enforces the
required fields, the submission reaches the contact's custom fields and the form_submitted event."""

import re
from collections.abc import Iterator

import pytest

from campaigns.services import sms_send
from contacts.models import Contact
from content.services import form_create
from messaging.models import Event
from tests.browser.conftest import screenshot
from tests.content.conftest import ALL_ELEMENTS


@pytest.fixture(autouse=True, scope="module")
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's event loop lives as long as the module's browser, and the database flush after
    the transactional test runs beside it: allow the ORM for the whole module (the `page` fixture's
    variable is gone before that flush)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_recipient_fills_and_submits_their_form_in_chromium(page, account):
    form = form_create(
        account=account,
        name="Customer survey",
        form_fields=ALL_ELEMENTS,
        reject_button=True,
        editable=False,
    )
    outcome = sms_send(account=account, message=f"Tell us: {form.placeholder}", to=["34666555444"], sender="ACME")
    path = re.search(r"(/form/[^/\s]+/)", outcome_body(outcome)).group(1)

    page.goto(path)
    page.get_by_role("button", name="Submit").click()
    assert page.locator("#field-6:invalid").count() == 1  # required: chromium kept the form from leaving

    page.get_by_label("Name").fill("Ana")
    page.get_by_label("Secret word").fill("abracadabra")
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Age").fill("41")
    page.get_by_label("Comments").fill("Very good service")
    page.get_by_label("Birthday").fill("1984-02-29")
    page.get_by_label("Favourite colour").fill("#1f5fbf")
    page.get_by_label("Country").select_option("ES")
    page.get_by_label("Plan").select_option("pro")
    page.get_by_label("Very satisfied").check()
    page.get_by_label("I accept the terms").check()
    screenshot(page, "form-page")
    page.get_by_role("button", name="Submit").click()

    page.get_by_text("Your answers have been saved.").wait_for()
    contact = Contact.objects.get(account=account, phone="34666555444")
    assert contact.custom_fields["form_name"] == "Ana"
    assert contact.custom_fields["form_country"] == "ES"
    assert contact.custom_fields["form_age"] == "41"
    assert Event.objects.filter(type="form_submitted", message__contact=contact).count() == 1


def outcome_body(outcome) -> str:
    from messaging.models import Message

    return Message.objects.get(public_id=outcome.results[0].message_id).body
