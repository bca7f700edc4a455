"""GET /api/rest/sms/<ID>: the spec sample's shape, several ids, 404 for unknown and foreign ids."""

from datetime import UTC, datetime

import pytest

from campaigns.models import Campaign
from contacts.models import Contact
from messaging.models import Message, MessageStatus
from tests.campaigns.conftest import contact, event, post_mailing, post_sms

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": {"code": 404, "description": "Resource not found"}}


def send(client, to: str = "34666555444", **body) -> str:
    response = post_sms(client, to=[to], **{"from": "SAMPLE", "message": "SMS text message", **body})
    return response.json()["result"][0]["id"]


def test_a_message_has_the_spec_sample_shape(api_client, account):
    contact(account, phone="34666555444", email="test@test.com", name="Name")
    message_id = send(api_client, campaignName="Sample")
    message = Message.objects.get(public_id=message_id)
    sent_at = datetime(2021, 7, 19, 15, 0, 33, tzinfo=UTC)
    event(message, "sent", date=sent_at)
    event(message, "delivered", date=sent_at)
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.DELIVERED)

    response = api_client.get(f"/api/rest/sms/{message_id}")

    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "id": message_id,
                "from": "SAMPLE",
                "to": "34666555444",
                "message": "SMS text message",
                "campaignId": Campaign.objects.get(account=account).pk,
                "sendingId": message.sending_id,
                "isDelivered": True,
                "isClicked": False,
                "events": [
                    {"type": "sent", "date": "2021-07-19T15:00:33+00:00", "isMobile": False, "browser": "", "os": ""},
                    {
                        "type": "delivered",
                        "date": "2021-07-19T15:00:33+00:00",
                        "isMobile": False,
                        "browser": "",
                        "os": "",
                    },
                ],
                "customFields": {"email": "test@test.com", "phone": "34666555444", "name": "Name"},
                "links": {"self": f"http://testserver/api/rest/sms/{message_id}"},
            }
        ]
    }


def test_custom_fields_include_the_contacts_custom_values(api_client, account):
    contact(account, phone="34666555444", name="Ana", custom_fields={"city": "Madrid"})
    message_id = send(api_client)
    fields = api_client.get(f"/api/rest/sms/{message_id}").json()["data"][0]["customFields"]
    assert fields == {"email": None, "phone": "34666555444", "name": "Ana", "city": "Madrid"}


def test_a_message_whose_contact_was_deleted_still_shows_its_phone(api_client, account):
    message_id = send(api_client)
    Contact.objects.filter(account=account).delete()
    fields = api_client.get(f"/api/rest/sms/{message_id}").json()["data"][0]["customFields"]
    assert fields == {"email": None, "phone": "34666555444", "name": None}


def test_clicked_event_sets_is_clicked(api_client, account):
    message_id = send(api_client)
    event(Message.objects.get(public_id=message_id), "clicked", url="https://example.com", browser="Firefox")
    data = api_client.get(f"/api/rest/sms/{message_id}").json()["data"][0]
    assert data["isClicked"] is True
    assert data["isDelivered"] is False
    assert data["events"][0]["browser"] == "Firefox"


def test_several_comma_separated_ids_answer_in_the_order_asked(api_client, account):
    first, second = send(api_client, "34666555444"), send(api_client, "34666555333")
    response = api_client.get(f"/api/rest/sms/{second},{first}")
    assert [item["id"] for item in response.json()["data"]] == [second, first]


def test_unknown_ids_among_known_ones_are_left_out(api_client, account):
    first = send(api_client)
    response = api_client.get(f"/api/rest/sms/{first},NOPE")
    assert [item["id"] for item in response.json()["data"]] == [first]


def test_unknown_id_is_404(api_client, account):
    response = api_client.get("/api/rest/sms/XXXXXXXXXXXXX")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_another_accounts_message_is_404(api_client, other_client, account):
    message_id = send(api_client)
    response = other_client.get(f"/api/rest/sms/{message_id}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_an_email_is_not_an_sms(api_client, account):
    from accounts.services import verified_sender_add

    verified_sender_add(account=account, email="info@sample.com")
    response = post_mailing(
        api_client, to=["a@example.com"], fromEmail="info@sample.com", replyTo="info@sample.com", subject="S", body="B"
    )
    message_id = response.json()["result"][0]["id"]
    assert api_client.get(f"/api/rest/sms/{message_id}").status_code == 404


def test_the_query_count_does_not_grow_with_the_ids(api_client, account, django_assert_max_num_queries):
    ids = [send(api_client, f"3466655{index:04d}") for index in range(5)]
    for message_id in ids:
        event(Message.objects.get(public_id=message_id), "sent")
    with django_assert_max_num_queries(8):
        response = api_client.get("/api/rest/sms/" + ",".join(ids))
    assert len(response.json()["data"]) == 5
