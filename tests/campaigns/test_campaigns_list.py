"""GET /api/rest/campaigns: the spec sample's shape, the filters name (with *), channel,
beforeDate and afterDate, pagination and isolation."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from campaigns.models import EVENT_COUNTERS, Campaign, Sending, SendingStatus

pytestmark = pytest.mark.django_db


def make_campaign(account, name: str, *, created: datetime | None = None, channels=("sms",)) -> Campaign:
    campaign = Campaign.objects.create(account=account, name=name)
    for channel in channels:
        Sending.objects.create(account=account, campaign=campaign, channel=channel)
    if created is not None:
        Campaign.objects.filter(pk=campaign.pk).update(created_at=created)
    return campaign


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["data"]]


def test_a_campaign_has_the_spec_sample_shape(api_client, account):
    campaign = Campaign.objects.create(account=account, name="My campaign")
    sending = Sending.objects.create(
        account=account,
        campaign=campaign,
        channel="sms",
        status=SendingStatus.OPENED,
        total=2,
        processed=2,
        total_sms_parts=4,
        cost=Decimal("0.02"),
        delivered=2,
        sent=2,
    )
    created = datetime(2018, 12, 27, 11, 31, 16, tzinfo=UTC)
    Campaign.objects.filter(pk=campaign.pk).update(created_at=created)
    Sending.objects.filter(pk=sending.pk).update(
        created_at=created, updated_at=datetime(2018, 12, 27, 11, 31, 22, tzinfo=UTC)
    )

    body = api_client.get("/api/rest/campaigns").json()

    assert body["data"] == [
        {
            "id": campaign.pk,
            "name": "My campaign",
            "type": "basic",
            "createdAt": "2018-12-27T11:31:16+00:00",
            "updatedAt": "2018-12-27T11:31:22+00:00",
            "links": {
                "self": f"http://testserver/api/rest/campaigns/{campaign.pk}",
                "sendings": f"http://testserver/api/rest/campaigns/{campaign.pk}/sendings",
            },
            "sendings": {
                "data": [
                    {
                        "id": sending.pk,
                        "campaignName": "My campaign",
                        "status": "OPENED",
                        "channel": "sms",
                        "total": 2,
                        "processed": 2,
                        "totalSmsParts": 4,
                        "cost": 0.02,
                        "currency": "EUR",
                        "tags": [],
                        "scheduledAt": None,
                        "expiresAt": None,
                        "startedAt": None,
                        "finishedAt": None,
                        "createdAt": "2018-12-27T11:31:16+00:00",
                        "updatedAt": "2018-12-27T11:31:22+00:00",
                        "events": {
                            "delivered": 2,
                            "opened": 0,
                            "opened_unique": 0,
                            "clicked": 0,
                            "clicked_unique": 0,
                            "unsubscribed": 0,
                            "hard_bounced": 0,
                            "complaint": 0,
                            "sent": 2,
                            "soft_bounced": 0,
                            "undelivered": 0,
                            "rejected": 0,
                            "expired": 0,
                            "unsubscribed_landing": 0,
                        },
                        "links": {
                            "self": f"http://testserver/api/rest/sendings/{sending.pk}",
                            "eventsReport": f"http://testserver/api/rest/sendings/{sending.pk}/reports/events",
                        },
                    }
                ]
            },
        }
    ]
    assert list(body["data"][0]["sendings"]["data"][0]["events"]) == list(EVENT_COUNTERS)
    assert body["meta"]["pagination"]["total"] == 1


def test_a_send_with_a_campaign_name_appears_in_the_list(api_client, account):
    from tests.campaigns.conftest import post_sms

    post_sms(api_client, to=["34666555444"], message="Hi", campaignName="From API", tags=["t"], **{"from": "T"})
    [campaign] = api_client.get("/api/rest/campaigns").json()["data"]
    [sending] = campaign["sendings"]["data"]
    assert (campaign["name"], sending["total"], sending["totalSmsParts"], sending["tags"]) == ("From API", 1, 1, ["t"])
    assert sending["cost"] == 0.045


def test_name_filter_matches_exactly_or_with_the_star_wildcard(api_client, account):
    for name in ["CAMPAIGN_2020_01", "CAMPAIGN_2020_02", "CAMPAIGN_2021_01", "Other 2020"]:
        make_campaign(account, name)
    assert names(api_client.get("/api/rest/campaigns", {"name": "CAMPAIGN_2020_01"})) == ["CAMPAIGN_2020_01"]
    assert sorted(names(api_client.get("/api/rest/campaigns", {"name": "CAMPAIGN_2020_*"}))) == [
        "CAMPAIGN_2020_01",
        "CAMPAIGN_2020_02",
    ]
    assert sorted(names(api_client.get("/api/rest/campaigns", {"name": "*2020*"}))) == [
        "CAMPAIGN_2020_01",
        "CAMPAIGN_2020_02",
        "Other 2020",
    ]
    assert names(api_client.get("/api/rest/campaigns", {"name": "CAMPAIGN_2020"})) == []


def test_name_filter_treats_regex_characters_literally(api_client, account):
    make_campaign(account, "a.b (1)")
    make_campaign(account, "axb (1)")
    assert names(api_client.get("/api/rest/campaigns", {"name": "a.b (*"})) == ["a.b (1)"]


def test_a_name_filter_holding_a_nul_character_is_422(api_client, account):
    response = api_client.get("/api/rest/campaigns", {"name": "a\x00b"})
    assert response.status_code == 422
    assert response.json()["error"] == {"code": 422, "description": "The name may not contain a NUL character."}


def test_channel_filter_keeps_campaigns_with_that_channel_and_only_those_sendings(api_client, account):
    make_campaign(account, "sms only", channels=("sms",))
    make_campaign(account, "both", channels=("sms", "mailing"))
    make_campaign(account, "mail only", channels=("mailing",))
    response = api_client.get("/api/rest/campaigns", {"channel": "mailing"})
    assert sorted(names(response)) == ["both", "mail only"]
    for campaign in response.json()["data"]:
        assert {sending["channel"] for sending in campaign["sendings"]["data"]} == {"mailing"}


def test_invalid_channel_is_422(api_client, account):
    response = api_client.get("/api/rest/campaigns", {"channel": "fax"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == 422


def test_before_and_after_dates_bound_the_creation_date(api_client, account):
    make_campaign(account, "2018", created=datetime(2018, 6, 1, tzinfo=UTC))
    make_campaign(account, "2019", created=datetime(2019, 6, 1, tzinfo=UTC))
    make_campaign(account, "2020", created=datetime(2020, 6, 1, tzinfo=UTC))
    after = api_client.get("/api/rest/campaigns?afterDate=2019-01-01T00%3A00%3A00%2B00%3A00")
    assert sorted(names(after)) == ["2019", "2020"]
    before = api_client.get("/api/rest/campaigns?beforeDate=2019-01-01T00%3A00%3A00%2B00%3A00")
    assert names(before) == ["2018"]
    between = api_client.get("/api/rest/campaigns", {"afterDate": "2019-01-01", "beforeDate": "2020-01-01T00:00:00Z"})
    assert names(between) == ["2019"]


def test_an_unencoded_plus_in_the_offset_is_still_understood(api_client, account):
    make_campaign(account, "2019", created=datetime(2019, 6, 1, tzinfo=UTC))
    assert names(api_client.get("/api/rest/campaigns?afterDate=2019-01-01T00:00:00+00:00")) == ["2019"]


@pytest.mark.parametrize("param", ["beforeDate", "afterDate"])
@pytest.mark.parametrize("value", ["yesterday", "2019-13-01", "01/02/2019"])
def test_invalid_dates_are_422(api_client, account, param, value):
    response = api_client.get("/api/rest/campaigns", {param: value})
    assert response.status_code == 422
    assert param in response.json()["error"]["description"]


def test_the_list_is_paginated_like_every_list(api_client, account):
    for index in range(3):
        make_campaign(account, f"c{index}")
    body = api_client.get("/api/rest/campaigns", {"limit": 2, "page": 2}).json()
    assert names_of(body) == ["c0"]
    assert body["meta"]["pagination"] | {"links": None} == {
        "total": 3,
        "count": 1,
        "per_page": 2,
        "current_page": 2,
        "total_pages": 2,
        "links": None,
    }


def names_of(body: dict) -> list[str]:
    return [item["name"] for item in body["data"]]


def test_another_accounts_campaigns_are_not_listed(api_client, other_user, account):
    make_campaign(other_user.account, "theirs")
    make_campaign(account, "mine")
    assert names(api_client.get("/api/rest/campaigns")) == ["mine"]


def test_a_page_costs_the_same_queries_whatever_its_size(api_client, account, django_assert_max_num_queries):
    for index in range(20):
        make_campaign(account, f"c{index}", channels=("sms", "mailing"))
    with django_assert_max_num_queries(6):
        response = api_client.get("/api/rest/campaigns")
    assert len(response.json()["data"]) == 20
