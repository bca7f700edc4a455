"""GET / PUT / DELETE /api/rest/scheduled: the section's shapes, guid (one, list, none), type,
sendingId, 120 and 121, refunds, and that "no guid" means every scheduled message of the account
and never another account's."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Sending, SendingStatus
from messaging.models import Message, MessageStatus
from tests.campaigns.conftest import ES_PRICE, post_mailing, post_sms

pytestmark = pytest.mark.django_db

LATER = "20991111101010"
LATER_TEXT = "2099-11-11 10:10:10"


def schedule_sms(client, to: str = "34666555444", when: str = LATER, **body) -> str:
    response = post_sms(client, to=[to], scheduleDate=when, **{"from": "SAMPLE", "message": "This is a test", **body})
    assert response.status_code == 202, response.content
    return response.json()["result"][0]["id"]


@pytest.fixture
def schedule_mail(api_client, mail_account):
    def send(to: str = "a@example.com", when: str = LATER) -> str:
        response = post_mailing(
            api_client,
            to=[to],
            fromEmail="info@sample.com",
            replyTo="replyto@example.com",
            subject="Hi",
            fromName="Info",
            body="<p>Hello</p>",
            scheduleDate=when,
        )
        assert response.status_code == 202, response.content
        return response.json()["result"][0]["id"]

    return send


def message(public_id: str) -> Message:
    return Message.objects.get(public_id=public_id)


# ---------------------------------------------------------------------------------------------
# List


def test_list_of_several_has_the_multi_guid_shape_without_content(api_client, account):
    first, second = schedule_sms(api_client, "34666555444"), schedule_sms(api_client, "34666555333")
    post_sms(api_client, to=["34666555222"], message="now", **{"from": "T"})  # not scheduled

    body = api_client.get("/api/rest/scheduled").json()

    assert body["total"] == 2
    assert [item["guid"] for item in body["result"]] == [first, second]
    item = body["result"][0]
    assert set(item) == {"guid", "type", "sending_id", "created_at", "updated_at", "scheduled_at"}
    assert item["type"] == "SMS"
    assert item["sending_id"] == message(first).sending_id
    assert item["scheduled_at"] == LATER_TEXT
    assert len(item["created_at"]) == len("2017-09-18 10:49:12")


def test_single_guid_shows_the_content(api_client, account):
    guid = schedule_sms(api_client, campaignName="C")
    sent = message(guid)

    body = api_client.get("/api/rest/scheduled", {"guid": guid}).json()

    assert body == {
        "result": {
            "guid": guid,
            "type": "SMS",
            "content": {
                "to": "34666555444",
                "from": "SAMPLE",
                "encoding": "gsm",
                "message": "This is a test",
                "campaignId": sent.sending.campaign_id,
                "sendingId": sent.sending_id,
            },
            "created_at": body["result"]["created_at"],
            "updated_at": body["result"]["updated_at"],
            "scheduled_at": LATER_TEXT,
        },
        "total": 1,
    }


def test_single_mailing_guid_shows_subject_and_sender(api_client, schedule_mail):
    guid = schedule_mail()
    content = api_client.get("/api/rest/scheduled", {"guid": guid}).json()["result"]["content"]
    assert content["subject"] == "Hi"
    assert content["from"] == "info@sample.com"
    assert content["fromName"] == "Info"
    assert content["message"].startswith("<p>Hello</p>")  # then the open pixel (trackOpens defaults to true)


def test_list_filters_by_guids_type_and_sending(api_client, account, schedule_mail):
    sms_one, sms_two = schedule_sms(api_client, "34666555444"), schedule_sms(api_client, "34666555333")
    mail_one = schedule_mail()

    by_guids = api_client.get(f"/api/rest/scheduled?guid={sms_one}&guid={mail_one}").json()
    assert {item["guid"] for item in by_guids["result"]} == {sms_one, mail_one}
    by_comma = api_client.get(f"/api/rest/scheduled?guid[]={sms_one},{sms_two}").json()
    assert {item["guid"] for item in by_comma["result"]} == {sms_one, sms_two}
    mailing = api_client.get("/api/rest/scheduled", {"type": "MAILING"}).json()
    assert [item["guid"] for item in mailing["result"]] == [mail_one]
    assert mailing["result"][0]["type"] == "MAILING"
    by_sending = api_client.get("/api/rest/scheduled", {"sendingId": message(sms_two).sending_id}).json()
    assert [item["guid"] for item in by_sending["result"]] == [sms_two]


def test_unknown_or_malformed_guid_is_120(api_client, account):
    schedule_sms(api_client)
    for guid in ["NOPE", "bad guid!"]:
        response = api_client.get("/api/rest/scheduled", {"guid": guid})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == 120


def test_a_message_already_released_is_not_scheduled(api_client, account):
    guid = post_sms(api_client, to=["34666555444"], message="now", **{"from": "T"}).json()["result"][0]["id"]
    assert api_client.get("/api/rest/scheduled", {"guid": guid}).json()["error"]["code"] == 120


def test_invalid_type_is_422(api_client, account):
    assert api_client.get("/api/rest/scheduled", {"type": "FAX"}).status_code == 422


def test_another_accounts_scheduled_messages_are_invisible(api_client, other_client, account, other_user):
    guid = schedule_sms(api_client)
    assert other_client.get("/api/rest/scheduled").json() == {"result": [], "total": 0}
    assert other_client.get("/api/rest/scheduled", {"guid": guid}).json()["error"]["code"] == 120


# ---------------------------------------------------------------------------------------------
# Update


def test_update_moves_the_given_guids(api_client, account):
    first, second, third = (schedule_sms(api_client, f"3466655544{i}") for i in range(3))

    response = api_client.put(
        "/api/rest/scheduled", {"guid": [first, second], "scheduleDate": "20991011093000"}, format="json"
    )

    assert response.json() == {"result": True, "updated": 2}
    new_date = datetime(2099, 10, 11, 9, 30, tzinfo=UTC)
    for guid in (first, second):
        moved = message(guid)
        assert (moved.scheduled_at, moved.due_at, moved.status) == (new_date, new_date, MessageStatus.SCHEDULED)
    assert message(third).scheduled_at == datetime(2099, 11, 11, 10, 10, 10, tzinfo=UTC)


def test_update_without_guid_moves_every_scheduled_message_of_the_account_only(
    api_client, other_client, account, other_user
):
    mine = [schedule_sms(api_client, f"3466655544{i}") for i in range(3)]
    other_user.account.balance = Decimal("10")
    other_user.account.save()
    theirs = schedule_sms(other_client)

    response = api_client.put("/api/rest/scheduled", {"scheduleDate": "20991011093000"}, format="json")

    assert response.json() == {"result": True, "updated": 3}
    assert {message(guid).scheduled_at.year for guid in mine} == {2099}
    assert message(theirs).scheduled_at == datetime(2099, 11, 11, 10, 10, 10, tzinfo=UTC)
    assert all(message(guid).scheduled_at.month == 10 for guid in mine)


def test_update_can_be_limited_to_a_type(api_client, account, schedule_mail):
    sms_guid, mail_guid = schedule_sms(api_client), schedule_mail()
    response = api_client.put(
        "/api/rest/scheduled", {"type": "MAILING", "scheduleDate": "20991011093000"}, format="json"
    )
    assert response.json()["updated"] == 1
    assert message(mail_guid).scheduled_at.month == 10
    assert message(sms_guid).scheduled_at.month == 11


def test_update_to_a_past_date_releases_the_messages_now(api_client, account):
    guid = schedule_sms(api_client)
    api_client.put("/api/rest/scheduled", {"guid": guid, "scheduleDate": "20200101000000"}, format="json")
    released = message(guid)
    assert released.status == MessageStatus.QUEUED
    assert released.due_at <= timezone.now()


@pytest.mark.parametrize("date", [None, "2099-10-11", "20991399000000"])
def test_update_without_a_valid_schedule_date_is_121_and_changes_nothing(api_client, account, date):
    guid = schedule_sms(api_client)
    body = {"guid": guid} if date is None else {"guid": guid, "scheduleDate": date}
    response = api_client.put("/api/rest/scheduled", body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, 121)
    assert message(guid).scheduled_at.month == 11


def test_update_with_an_unknown_guid_is_120_and_changes_nothing(api_client, account):
    guid = schedule_sms(api_client)
    response = api_client.put(
        "/api/rest/scheduled", {"guid": [guid, "UNKNOWN"], "scheduleDate": "20991011093000"}, format="json"
    )
    assert response.json()["error"]["code"] == 120
    assert message(guid).scheduled_at.month == 11


def test_a_numeric_guid_that_names_no_message_is_120(api_client, account):
    schedule_sms(api_client)
    response = api_client.put("/api/rest/scheduled", {"guid": 100, "scheduleDate": "20991011093000"}, format="json")
    assert response.json()["error"]["code"] == 120


# ---------------------------------------------------------------------------------------------
# Delete


def test_delete_cancels_refunds_and_lowers_the_sending_totals(api_client, account):
    response = post_sms(
        api_client, to=["34666555444", "34666555333"], scheduleDate=LATER, message="Hi", **{"from": "T"}
    )
    first, second = (result["id"] for result in response.json()["result"])
    account.refresh_from_db()
    assert account.balance == Decimal("100") - 2 * ES_PRICE

    response = api_client.delete("/api/rest/scheduled", {"guid": [first]}, format="json")

    assert response.json() == {"result": True, "deleted": 1}
    cancelled = message(first)
    assert cancelled.status == MessageStatus.CANCELLED
    assert cancelled.final_at is not None
    assert message(second).status == MessageStatus.SCHEDULED
    account.refresh_from_db()
    assert account.balance == Decimal("100") - ES_PRICE
    sending = cancelled.sending
    sending.refresh_from_db()
    assert (sending.total, sending.total_sms_parts, sending.cost) == (1, 1, ES_PRICE)
    assert sending.status == SendingStatus.PENDING


def test_delete_of_every_message_of_a_sending_cancels_the_sending(api_client, account):
    guid = schedule_sms(api_client)
    api_client.delete("/api/rest/scheduled", {"guid": guid}, format="json")
    sending = Sending.objects.get(pk=message(guid).sending_id)
    assert sending.status == SendingStatus.CANCELLED
    assert (sending.total, sending.cost) == (0, 0)


def test_delete_without_guid_cancels_every_scheduled_message_of_the_account_only(
    api_client, other_client, account, other_user, schedule_mail
):
    mine = [schedule_sms(api_client, f"3466655544{i}") for i in range(3)] + [schedule_mail()]
    released = post_sms(api_client, to=["34666555000"], message="now", **{"from": "T"}).json()["result"][0]["id"]
    other_user.account.balance = Decimal("10")
    other_user.account.save()
    theirs = schedule_sms(other_client)

    response = api_client.delete("/api/rest/scheduled", format="json")

    assert response.json() == {"result": True, "deleted": 4}
    assert {message(guid).status for guid in mine} == {MessageStatus.CANCELLED}
    assert message(released).status == MessageStatus.QUEUED
    assert message(theirs).status == MessageStatus.SCHEDULED
    account.refresh_from_db()
    assert account.balance == Decimal("100") - ES_PRICE  # only the message sent now is paid


def test_delete_can_be_limited_to_a_type(api_client, account, schedule_mail):
    sms_guid, mail_guid = schedule_sms(api_client), schedule_mail()
    assert api_client.delete("/api/rest/scheduled", {"type": "SMS"}, format="json").json()["deleted"] == 1
    assert message(sms_guid).status == MessageStatus.CANCELLED
    assert message(mail_guid).status == MessageStatus.SCHEDULED


def test_delete_with_an_unknown_guid_is_120_and_cancels_nothing(api_client, account):
    guid = schedule_sms(api_client)
    response = api_client.delete("/api/rest/scheduled", {"guid": [guid, "UNKNOWN"]}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, 120)
    assert message(guid).status == MessageStatus.SCHEDULED


def test_deleting_twice_finds_nothing_the_second_time(api_client, account):
    guid = schedule_sms(api_client)
    api_client.delete("/api/rest/scheduled", {"guid": guid}, format="json")
    assert api_client.delete("/api/rest/scheduled", {"guid": guid}, format="json").json()["error"]["code"] == 120
    account.refresh_from_db()
    assert account.balance == Decimal("100")
