"""The dashboard: balance, sendings in progress and scheduled, server-drawn SVG charts, all read
from the signed-in account's Sending rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, Sending, SendingStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(client, api_user):
    client.force_login(api_user)
    return client


def sending(account, **fields) -> Sending:
    return Sending.objects.create(account=account, channel=fields.pop("channel", "sms"), **fields)


def test_dashboard_shows_balance_progress_and_schedule(web, account):
    campaign = Campaign.objects.create(account=account, name="Spring sale")
    sending(account, campaign=campaign, status=SendingStatus.SENDING, total=10, processed=4)
    sending(account, status=SendingStatus.PENDING, total=3, scheduled_at=timezone.now() + timedelta(days=1))
    response = web.get("/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "100.00 EUR" in body
    assert [s.campaign.name for s in response.context["in_progress"]] == ["Spring sale"]
    assert len(response.context["scheduled"]) == 1
    assert "4 / 10" in body


def test_messages_per_day_chart_counts_sendings_by_day_and_channel(web, account):
    sending(account, channel="sms", total=7, status=SendingStatus.FINISHED)
    sending(account, channel="mailing", total=5, status=SendingStatus.FINISHED)
    old = sending(account, channel="sms", total=100, status=SendingStatus.FINISHED)
    Sending.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    response = web.get("/")
    daily = response.context["daily"]
    assert daily.per_channel["sms"][-1] == 7
    assert daily.per_channel["mailing"][-1] == 5
    assert daily.total == 12
    chart = str(response.context["daily_chart"])
    assert chart.startswith("<svg") and 'role="img"' in chart
    assert "7 SMS" in chart and "5 Email" in chart


def test_funnel_shows_recent_sendings_counters(web, account):
    campaign = Campaign.objects.create(account=account, name="<Launch>")
    sending(
        account, campaign=campaign, channel="mailing", status=SendingStatus.FINISHED, total=10, sent=10,
        delivered=8, opened_unique=4, clicked_unique=1,
    )  # fmt: skip
    response = web.get("/")
    chart = str(response.context["funnel_chart"])
    assert "&lt;Launch&gt;" in chart and "<Launch>" not in chart  # data is escaped
    assert "8 (80%)" in chart and "1 (10%)" in chart
    assert [row.stages for row in response.context["funnel_rows"]] == [
        [("Sent", 10), ("Delivered", 8), ("Opened", 4), ("Clicked", 1)]
    ]


def test_dashboard_shows_only_the_signed_in_account(web, other_user):
    other = other_user.account
    campaign = Campaign.objects.create(account=other, name="Globex secret")
    sending(other, campaign=campaign, status=SendingStatus.SENDING, total=5, sent=5)
    body = web.get("/").content.decode()
    assert "Globex secret" not in body


def test_dashboard_query_count_does_not_grow_with_sendings(web, account):
    for index in range(30):
        campaign = Campaign.objects.create(account=account, name=f"c{index}")
        sending(account, campaign=campaign, status=SendingStatus.SENDING, total=5, sent=5)
    with CaptureQueriesContext(connection) as queries:
        assert web.get("/").status_code == 200
    assert len(queries) <= 10


def test_funnel_gives_a_stage_one_colour_in_every_row():
    from campaigns.charts import FunnelRow, funnel_svg

    chart = str(
        funnel_svg(
            rows=[
                FunnelRow(label="SMS", stages=[("Sent", 5), ("Delivered", 4), ("Clicked", 1)]),
                FunnelRow(label="Email", stages=[("Sent", 5), ("Delivered", 4), ("Opened", 2), ("Clicked", 1)]),
            ],
            title="Funnel",
        )
    )
    assert chart.count('class="funnel-stage-3"') == 2  # "Clicked" in both rows
    assert chart.count('class="funnel-stage-2"') == 1  # "Opened" only in the email row
