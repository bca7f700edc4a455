"""GET /api/rest/sendings/<id>/reports/events: the spec's CSV columns, date filters,
showCustomFields, formula escaping, streaming, and 404 for foreign sendings."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.http import StreamingHttpResponse

from contacts.models import Contact, CustomField
from messaging.models import Message
from tests.campaigns.conftest import contact, event, post_sms

pytestmark = pytest.mark.django_db

HEADER = "campaignName,campaignId,sendingId,contactId,event,phone,email,landline,countryIso,browser,os,url,createdAt"


@pytest.fixture
def sent(api_client, account) -> Message:
    contact(account, phone="34666555444", email="ana@example.com", landline="34911222333", country_iso="ES", name="Ana")
    response = post_sms(api_client, to=["34666555444"], message="Hi", campaignName="Spring", **{"from": "T"})
    return Message.objects.get(public_id=response.json()["result"][0]["id"])


def report(client, sending_id: int, **params) -> tuple[object, list[list[str]]]:
    response = client.get(f"/api/rest/sendings/{sending_id}/reports/events", params)
    if response.status_code != 200:
        return response, []
    text = b"".join(response.streaming_content).decode()
    return response, list(csv.reader(io.StringIO(text)))


def test_report_is_csv_with_the_spec_columns(api_client, sent):
    event(sent, "sent", date=datetime(2019, 1, 10, 8, 0, tzinfo=UTC))
    event(
        sent,
        "clicked",
        date=datetime(2019, 1, 10, 9, 0, tzinfo=UTC),
        browser="Firefox",
        os="Linux",
        url="https://example.com/a",
    )

    response, rows = report(api_client, sent.sending_id)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert isinstance(response, StreamingHttpResponse)
    assert ",".join(rows[0]) == HEADER
    campaign = sent.sending.campaign
    assert rows[1:] == [
        [
            "Spring",
            str(campaign.pk),
            str(sent.sending_id),
            str(sent.contact_id),
            "sent",
            "34666555444",
            "ana@example.com",
            "34911222333",
            "ES",
            "",
            "",
            "",
            "2019-01-10T08:00:00+00:00",
        ],
        [
            "Spring",
            str(campaign.pk),
            str(sent.sending_id),
            str(sent.contact_id),
            "clicked",
            "34666555444",
            "ana@example.com",
            "34911222333",
            "ES",
            "Firefox",
            "Linux",
            "https://example.com/a",
            "2019-01-10T09:00:00+00:00",
        ],
    ]


def test_a_sending_without_events_reports_only_the_header(api_client, sent):
    _response, rows = report(api_client, sent.sending_id)
    assert rows == [HEADER.split(",")]


def test_sending_without_campaign_reports_an_empty_name_and_id_0(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "T"})
    message = Message.objects.get(public_id=response.json()["result"][0]["id"])
    event(message, "sent")
    _response, rows = report(api_client, message.sending_id)
    assert rows[1][:2] == ["", "0"]


def test_after_and_before_dates_bound_the_events(api_client, sent):
    for day in (1, 15, 31):
        event(sent, "sent", date=datetime(2019, 1, day, tzinfo=UTC))
    event(sent, "delivered", date=datetime(2019, 2, 1, tzinfo=UTC))
    _response, rows = report(
        api_client, sent.sending_id, afterDate="2019-01-02T00:00:00+00:00", beforeDate="2019-02-01T00:00:00+00:00"
    )
    assert [row[-1] for row in rows[1:]] == ["2019-01-15T00:00:00+00:00", "2019-01-31T00:00:00+00:00"]


@pytest.mark.parametrize("param", ["afterDate", "beforeDate"])
def test_invalid_dates_are_422(api_client, sent, param):
    response, _rows = report(api_client, sent.sending_id, **{param: "last week"})
    assert response.status_code == 422


def test_show_custom_fields_adds_a_column_per_custom_field(api_client, account, sent):
    CustomField.objects.create(account=account, key="city")
    CustomField.objects.create(account=account, key="birthday", type="date")
    Contact.objects.filter(pk=sent.contact_id).update(custom_fields={"city": "Madrid"})
    event(sent, "sent")

    _response, rows = report(api_client, sent.sending_id, showCustomFields=1)

    assert rows[0] == [*HEADER.split(","), "birthday", "city"]
    assert rows[1][-2:] == ["", "Madrid"]
    _response, plain = report(api_client, sent.sending_id, showCustomFields=0)
    assert plain[0] == HEADER.split(",")


def test_cells_that_a_spreadsheet_would_run_are_escaped(api_client, sent):
    event(sent, "clicked", browser='=HYPERLINK("http://evil")', os="+1", url="https://example.com/@x")
    _response, rows = report(api_client, sent.sending_id)
    assert rows[1][9] == '\'=HYPERLINK("http://evil")'
    assert rows[1][10] == "'+1"
    assert rows[1][11] == "https://example.com/@x"


def test_a_deleted_contact_reports_the_message_recipient(api_client, account, sent):
    event(sent, "sent")
    Contact.objects.filter(pk=sent.contact_id).delete()
    _response, rows = report(api_client, sent.sending_id)
    assert rows[1][3:7] == ["", "sent", "34666555444", ""]


def test_another_accounts_sending_is_404(other_client, sent):
    response, _rows = report(other_client, sent.sending_id)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "description": "Resource not found"}}


def test_unknown_sending_is_404(api_client, account):
    response, _rows = report(api_client, 999999)
    assert response.status_code == 404


def test_rows_are_streamed_in_pieces(api_client, sent, monkeypatch):
    from campaigns import presenters

    monkeypatch.setattr(presenters, "CSV_ROWS_PER_CHUNK", 2)
    for _ in range(5):
        event(sent, "sent")
    response = api_client.get(f"/api/rest/sendings/{sent.sending_id}/reports/events")
    pieces = list(response.streaming_content)
    assert len(pieces) == 4  # header, 2 + 2 + 1 rows
    assert sum(piece.count(b"\n") for piece in pieces) == 6
