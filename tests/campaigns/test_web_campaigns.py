"""Staff web pages of campaigns: list filters, a sending's page (counters, chart, messages with
events, pause / resume / cancel, reschedule, CSV report with formula escaping), the scheduled
list and its actions, sign-in and account scoping."""

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from campaigns.models import Campaign, Sending, SendingStatus
from messaging.models import Message, MessageStatus
from tests.campaigns.conftest import contact, event, post_sms

pytestmark = pytest.mark.django_db

LATER = "20991111101010"


@pytest.fixture
def web(api_user: User) -> Client:
    client = Client()
    client.force_login(api_user)
    return client


@pytest.fixture
def other_web(other_user: User) -> Client:
    client = Client()
    client.force_login(other_user)
    return client


def send(api_client, to: str = "34666555444", **body) -> Message:
    response = post_sms(api_client, to=[to], **{"from": "ACME", "message": "Hi {name}", **body})
    assert response.status_code == 202, response.content
    return Message.objects.get(public_id=response.json()["result"][0]["id"])


@pytest.fixture
def sent(api_client, account) -> Message:
    contact(account, phone="34666555444", name="Ana")
    return send(api_client, campaignName="Spring")


def test_pages_need_sign_in(client, sent):
    for url in ("/campaigns/", "/campaigns/scheduled/", f"/campaigns/sendings/{sent.sending_id}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_campaign_list_shows_campaigns_with_their_sendings(web, sent):
    page = web.get("/campaigns/").content.decode()
    assert "Spring" in page
    assert f"/campaigns/sendings/{sent.sending_id}/" in page


def test_campaign_list_filters_by_name_wildcard_and_channel(web, api_client, sent):
    send(api_client, to="34666555333", campaignName="Autumn")
    by_name = web.get("/campaigns/", {"name": "SPR*"}).content.decode()
    assert "Spring" in by_name and "Autumn" not in by_name
    by_channel = web.get("/campaigns/", {"channel": "mailing"}).content.decode()
    assert "Spring" not in by_channel and "Autumn" not in by_channel


def test_campaign_list_filters_by_creation_dates(web, sent):
    Campaign.objects.filter(name="Spring").update(created_at=timezone.now() - timedelta(days=10))
    today = timezone.localdate().isoformat()
    assert "Spring" not in web.get("/campaigns/", {"created_from": today}).content.decode()
    old = (timezone.localdate() - timedelta(days=10)).isoformat()
    assert "Spring" in web.get("/campaigns/", {"created_from": old, "created_to": old}).content.decode()


def test_another_accounts_campaigns_and_sendings_are_invisible(other_web, sent):
    assert "Spring" not in other_web.get("/campaigns/").content.decode()
    assert other_web.get(f"/campaigns/sendings/{sent.sending_id}/").status_code == 404
    assert other_web.get(f"/campaigns/sendings/{sent.sending_id}/status.json").status_code == 404
    assert other_web.get(f"/campaigns/sendings/{sent.sending_id}/events.csv").status_code == 404
    assert other_web.post(f"/campaigns/sendings/{sent.sending_id}/cancel/").status_code == 404


def test_sending_page_shows_the_fourteen_counters_chart_and_message_events(web, sent):
    event(sent, "sent")
    event(sent, "delivered", date=timezone.now() + timedelta(hours=2))
    Sending.objects.filter(pk=sent.sending_id).update(sent=1, delivered=1)
    page = web.get(f"/campaigns/sendings/{sent.sending_id}/").content.decode()
    assert page.count('data-counter="') == 14
    assert 'data-counter="delivered">1<' in page
    assert "<svg" in page and "<rect" in page  # three hourly buckets: grouped bars
    assert "sent (1)" in page and "delivered (1)" in page
    assert sent.public_id in page and "delivered" in page
    assert "Events per hour" in page


def test_chart_switches_to_days_for_a_long_sending(web, sent):
    event(sent, "sent", date=timezone.now() - timedelta(days=6))
    event(sent, "delivered")
    page = web.get(f"/campaigns/sendings/{sent.sending_id}/").content.decode()
    assert "Events per day" in page


def test_messages_are_paged_by_id_and_found_by_recipient(web, api_client):
    numbers = [f"346665{number:05d}" for number in range(30)]
    response = post_sms(api_client, to=numbers, **{"from": "ACME", "message": "Hi"})
    sending_id = response.json()["sendingId"]
    url = f"/campaigns/sendings/{sending_id}/"
    first = web.get(url).content.decode()
    assert numbers[0] in first and numbers[24] in first and numbers[25] not in first
    assert 'rel="next"' in first
    last_id = Message.objects.get(recipient=numbers[24]).pk
    second = web.get(url, {"after": last_id}).content.decode()
    assert numbers[25] in second and numbers[0] not in second
    found = web.get(url, {"recipient": "+34 666 500 007"}).content.decode()
    assert numbers[7] in found and numbers[8] not in found
    national = web.get(url, {"recipient": "666 500 009"}).content.decode()  # read in the account's country
    assert numbers[9] in national and numbers[8] not in national
    nothing = web.get(url, {"recipient": "x\x00y"})
    assert nothing.status_code == 200 and numbers[0] not in nothing.content.decode()


def test_status_json_reports_progress_and_counters(web, sent):
    Sending.objects.filter(pk=sent.sending_id).update(processed=1, delivered=1)
    data = web.get(f"/campaigns/sendings/{sent.sending_id}/status.json").json()
    assert data["processed"] == 1 and data["percent"] == 100
    assert data["counters"]["delivered"] == 1
    assert len(data["counters"]) == 14


def test_pause_resume_and_cancel_call_the_sending_services(web, api_client):
    message = send(api_client, scheduleDate=LATER)
    url = f"/campaigns/sendings/{message.sending_id}/"
    web.post(url + "pause/")
    assert Sending.objects.get(pk=message.sending_id).status == SendingStatus.PAUSED
    web.post(url + "resume/")
    assert Sending.objects.get(pk=message.sending_id).status == SendingStatus.PENDING
    response = web.post(url + "cancel/", follow=True)
    assert Sending.objects.get(pk=message.sending_id).status == SendingStatus.CANCELLED
    assert Message.objects.get(pk=message.pk).status == MessageStatus.CANCELLED
    assert "cancelled" in response.content.decode()


def test_an_impossible_action_says_why_and_changes_nothing(web, sent):
    Sending.objects.filter(pk=sent.sending_id).update(status=SendingStatus.FINISHED)
    response = web.post(f"/campaigns/sendings/{sent.sending_id}/pause/", follow=True)
    assert "cannot be paused" in response.content.decode()
    assert Sending.objects.get(pk=sent.sending_id).status == SendingStatus.FINISHED


def test_actions_need_post(web, sent):
    assert web.get(f"/campaigns/sendings/{sent.sending_id}/cancel/").status_code == 405


def test_reschedule_moves_the_scheduled_messages_in_the_account_time_zone(web, api_client, account):
    account.timezone = "Europe/Madrid"
    account.save(update_fields=["timezone"])
    message = send(api_client, scheduleDate=LATER)
    web.post(f"/campaigns/sendings/{message.sending_id}/reschedule/", {"schedule_at": "2099-06-01T10:30"})
    message.refresh_from_db()
    assert message.scheduled_at.isoformat() == "2099-06-01T08:30:00+00:00"
    assert message.status == MessageStatus.SCHEDULED


def test_send_now_releases_the_scheduled_messages(web, api_client):
    message = send(api_client, scheduleDate=LATER)
    web.post(f"/campaigns/sendings/{message.sending_id}/reschedule/", {"send_now": "1"})
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED


def test_invalid_reschedule_date_is_refused_without_change(web, api_client):
    message = send(api_client, scheduleDate=LATER)
    response = web.post(
        f"/campaigns/sendings/{message.sending_id}/reschedule/", {"schedule_at": "tomorrow"}, follow=True
    )
    assert "valid date" in response.content.decode()
    assert Message.objects.get(pk=message.pk).scheduled_at == message.scheduled_at


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_events_csv_escapes_cells_a_spreadsheet_would_run(web, sent):
    event(sent, "clicked", browser='=HYPERLINK("http://evil")', os="+1", url="https://example.com/@x")
    event(sent, "opened", browser="-2", os="@SUM(A1)")
    response = web.get(f"/campaigns/sendings/{sent.sending_id}/events.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert rows[0][:5] == ["campaignName", "campaignId", "sendingId", "contactId", "event"]
    assert rows[1][9:12] == ['\'=HYPERLINK("http://evil")', "'+1", "https://example.com/@x"]
    assert rows[2][9:11] == ["'-2", "'@SUM(A1)"]


def test_events_csv_can_add_custom_fields(web, account, sent):
    from contacts.models import Contact, CustomField

    CustomField.objects.create(account=account, key="plan", type="string")
    Contact.objects.filter(pk=sent.contact_id).update(custom_fields={"plan": "=gold"})
    event(sent, "sent")
    rows = read_csv(web.get(f"/campaigns/sendings/{sent.sending_id}/events.csv", {"custom_fields": "1"}))
    assert rows[0][-1] == "plan"
    assert rows[1][-1] == "'=gold"


def test_scheduled_list_shows_only_this_accounts_scheduled_messages(web, other_web, api_client):
    scheduled = send(api_client, scheduleDate=LATER)
    now = send(api_client, to="34666555333")
    page = web.get("/campaigns/scheduled/").content.decode()
    assert scheduled.public_id in page and now.public_id not in page
    assert scheduled.public_id not in other_web.get("/campaigns/scheduled/").content.decode()


def test_scheduled_actions_reschedule_send_now_and_cancel(web, api_client, account):
    first = send(api_client, scheduleDate=LATER)
    second = send(api_client, to="34666555333", scheduleDate=LATER)
    web.post(
        "/campaigns/scheduled/action/",
        {"guid": [first.public_id], "action": "reschedule", "schedule_at": "2099-01-02T03:04"},
    )
    first.refresh_from_db()
    assert first.scheduled_at.isoformat() == "2099-01-02T03:04:00+00:00"
    account.refresh_from_db()
    balance = account.balance
    web.post("/campaigns/scheduled/action/", {"guid": [second.public_id], "action": "cancel"})
    second.refresh_from_db()
    account.refresh_from_db()
    assert second.status == MessageStatus.CANCELLED
    assert account.balance > balance
    web.post("/campaigns/scheduled/action/", {"guid": [first.public_id], "action": "send_now"})
    first.refresh_from_db()
    assert first.status == MessageStatus.QUEUED


def test_scheduled_action_on_another_accounts_guid_changes_nothing(other_web, api_client):
    message = send(api_client, scheduleDate=LATER)
    response = other_web.post(
        "/campaigns/scheduled/action/", {"guid": [message.public_id], "action": "cancel"}, follow=True
    )
    assert "Invalid GUID" in response.content.decode()
    assert Message.objects.get(pk=message.pk).status == MessageStatus.SCHEDULED


def test_a_guid_with_a_nul_byte_is_refused_in_plain_words_and_changes_nothing(web, api_client):
    message = send(api_client, scheduleDate=LATER)
    response = web.post(
        "/campaigns/scheduled/action/", {"guid": [message.public_id, "x\x00"], "action": "cancel"}, follow=True
    )
    assert response.status_code == 200
    assert "Invalid GUID" in response.content.decode()
    assert Message.objects.get(pk=message.pk).status == MessageStatus.SCHEDULED


def test_sending_list_includes_sendings_without_campaign(web, api_client):
    message = send(api_client)
    page = web.get("/campaigns/sendings/", {"status": message.sending.status}).content.decode()
    assert f"/campaigns/sendings/{message.sending_id}/" in page


def test_chart_draws_lines_for_many_buckets_with_round_ticks():
    from campaigns.charts import line_chart

    chart = line_chart(labels=[f"{hour}:00" for hour in range(30)], series={"sent": [3] * 30, "delivered": [1] * 30})
    assert not chart.as_bars
    assert [series.name for series in chart.series] == ["sent", "delivered"]
    assert len(chart.series[0].points.split()) == 30
    assert [tick.label for tick in chart.y_ticks] == ["0", "1", "2", "3", "4"]
    assert len(chart.x_ticks) <= 8


def test_chart_of_one_bucket_draws_bars():
    from campaigns.charts import line_chart

    chart = line_chart(labels=["22 Nov 21:00"], series={"sent": [3], "delivered": [3]})
    assert chart.as_bars and len(chart.series[0].bars) == 1
    assert chart.series[0].bars[0][3] > 0


def test_a_big_sendings_chart_is_drawn_by_a_task_and_fetched_when_ready(web, sent, monkeypatch):
    import django_q.tasks

    from campaigns import charts, tasks

    queued = []
    monkeypatch.setattr(charts, "INLINE_EVENTS_LIMIT", 0)
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: queued.append((func, *args)))
    event(sent, "sent")
    Sending.objects.filter(pk=sent.sending_id).update(sent=1)
    chart_url = f"/campaigns/sendings/{sent.sending_id}/chart/"
    page = web.get(f"/campaigns/sendings/{sent.sending_id}/").content.decode()
    assert "being prepared" in page and chart_url in page
    assert queued == [("campaigns.tasks.sending_chart_refresh", sent.sending_id, "UTC")]
    web.get(f"/campaigns/sendings/{sent.sending_id}/")
    assert len(queued) == 1  # one refresh in flight at a time
    assert web.get(chart_url).status_code == 202
    tasks.sending_chart_refresh(sent.sending_id, "UTC")
    fragment = web.get(chart_url)
    assert fragment.status_code == 200 and "<svg" in fragment.content.decode()
    assert "<svg" in web.get(f"/campaigns/sendings/{sent.sending_id}/").content.decode()


def test_a_small_sendings_chart_follows_new_events_at_once(web, sent):
    url = f"/campaigns/sendings/{sent.sending_id}/"
    assert "No events yet." in web.get(url).content.decode()
    event(sent, "sent")
    Sending.objects.filter(pk=sent.sending_id).update(sent=1, updated_at=timezone.now())
    page = web.get(url).content.decode()
    assert "No events yet." not in page and "sent (1)" in page
