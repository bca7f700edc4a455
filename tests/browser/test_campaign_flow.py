"""Issue 6's end-to-end flow in a real browser (Debian's chromium through Playwright): sign in,
import a CSV of contacts, compose an SMS with a variable and a non-GSM character (the counter
switches to UTF-16), schedule it, see it in the scheduled list, send it, and watch the
simulator's delivery events reach the campaign page.

Background work (the import, the group fan-out, the dispatcher) runs in-process: django-q2's
async_task is replaced by a runner that calls the same task functions at once, after the
request's commit as django-q2 would. The simulator's delivery reports are emitted by its own
task function, as the minute schedule would."""

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from campaigns.models import Sending, SendingStatus
from contacts import importing
from contacts.models import Contact, ContactImport
from messaging.models import Message, MessageStatus, ProviderRoute
from messaging.providers.simulator import simulator_reports_emit
from tests.browser.conftest import screenshot

PASSWORD = "browser-test-password"
CSV_CONTENT = "Phone,First name,City\n666555401,Ana,Madrid\n666555402,Luis,Sevilla\n666555403,Marta,Bilbao\n"


@pytest.fixture(autouse=True, scope="module")
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's event loop lives as long as the module's browser, so the database flush after
    each transactional test runs beside it too: allow the ORM for the whole module, not only while
    `page` is set up (its monkeypatched variable is gone before that flush)."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def run_task_now(func: str, *args: Any, **kwargs: Any) -> None:
    """django-q2's async_task, run in-process: `func` is the dotted path django-q2 would import."""
    module_name, _, name = func.rpartition(".")
    getattr(import_module(module_name), name)(*args)


@pytest.fixture
def tasks_inline(monkeypatch) -> None:
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", run_task_now)
    monkeypatch.setattr(importing, "async_task", run_task_now)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_import_compose_schedule_send_and_watch_delivery(page, api_user, account, tasks_inline, tmp_path: Path):
    api_user.set_password(PASSWORD)
    api_user.save()
    # Every simulated SMS is delivered, and reported one second after it is accepted.
    ProviderRoute.objects.create(
        account=account,
        channel="sms",
        provider="simulator",
        settings={"delivered_rate": 1.0, "report_delay_seconds": 1},
    )

    # Sign in.
    page.goto("/login/")
    page.fill("#id_username", api_user.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/$"))

    # Import a CSV of contacts into a new group.
    csv_file = tmp_path / "launch-contacts.csv"
    csv_file.write_text(CSV_CONTENT)
    page.goto("/contacts/import/")
    page.set_input_files("#id_file", str(csv_file))
    page.fill("#id_default_country_iso", "ES")
    page.get_by_role("button", name="Upload and map columns").click()
    page.wait_for_url("**/contacts/import/mapping/")
    assert page.input_value("select[name=column_0]") == "phone"
    page.select_option("select[name=column_1]", "name")
    page.select_option("select[name=column_2]", "custom:city:string")
    page.fill("#id_new_group", "Launch list")
    page.get_by_role("button", name="Start import").click()
    page.wait_for_url(re.compile(r"/contacts/imports/\d+/$"))
    page.wait_for_selector('[data-field="status"]:has-text("finished")')
    assert page.text_content('[data-field="created_count"]') == "3"
    screenshot(page, "contacts-import")
    assert ContactImport.objects.get(account=account).status == "finished"
    assert Contact.objects.filter(account=account, groups__name="Launch list").count() == 3

    # Compose an SMS with a variable and a non-GSM character; the counter switches to UTF-16.
    page.goto("/compose/")
    page.get_by_label("Launch list").check()
    page.fill("#id_sender", "ACME")
    page.fill("#id_message", "Hola {name}, tu oferta en {city} ✓")
    page.wait_for_selector("#counter-encoding:has-text('UTF-16')")
    page.fill("#id_campaign_name", "Launch")
    page.locator("label[for=id_when_1]").click()
    later = timezone.localtime(timezone.now() + timedelta(days=3), timezone.get_fixed_timezone(0))
    page.fill("#id_schedule_at", later.strftime("%Y-%m-%dT%H:%M"))
    page.click("#send-button")
    page.wait_for_url(re.compile(r"/campaigns/sendings/\d+/$"))
    sending = Sending.objects.get(account=account, campaign__name="Launch")
    messages = Message.objects.filter(sending=sending)
    assert messages.count() == 3
    assert set(messages.values_list("status", flat=True)) == {MessageStatus.SCHEDULED}
    assert messages.get(recipient="34666555401").body == "Hola Ana, tu oferta en Madrid ✓"

    # It is in the scheduled list.
    page.goto("/campaigns/scheduled/")
    for number in ("34666555401", "34666555402", "34666555403"):
        assert page.locator("td", has_text=number).count() == 1

    # Send it now from the campaign page; the dispatcher hands it to the simulator.
    page.goto(f"/campaigns/sendings/{sending.pk}/")
    page.get_by_role("button", name="Send now").click()
    page.wait_for_selector("text=moved to")
    assert set(messages.values_list("status", flat=True)) == {MessageStatus.SENT}
    assert page.text_content('[data-counter="sent"]') == "3"

    # The simulator's delivery reports arrive; the open page picks them up by itself.
    assert simulator_reports_emit(now=timezone.now() + timedelta(seconds=5)) == 3
    page.wait_for_selector('[data-counter="delivered"]:has-text("3")', timeout=20_000)
    page.reload()
    assert page.text_content('[data-counter="delivered"]') == "3"
    assert page.locator(".messages-table .event", has_text="delivered").count() == 3
    assert page.locator("svg.chart rect").count() == 2  # this hour's sent and delivered bars
    assert Sending.objects.get(pk=sending.pk).status == SendingStatus.FINISHED
    screenshot(page, "campaign")

    # At phone width the page does not scroll sideways (wide tables scroll inside their own box).
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The actions are reachable from the keyboard: Tab lands on real links and buttons.
    page.focus("#recipient-search")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Find"
