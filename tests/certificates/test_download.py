"""GET /sms/certificates/<id> and /mailing/certificates/<id>: the PDF of a certified message
once final, with its content, events and a SHA-256 digest that a copy can be checked against."""

import hashlib
import json

import pytest

from certificates.models import Certificate
from certificates.services import certificate_verify, record_canonical, record_digest
from tests.certificates.conftest import finish, pdf_record, pdf_text, send_mailing, send_sms

pytestmark = pytest.mark.django_db


def test_a_final_certified_sms_answers_a_pdf_with_account_sender_recipient_content_events_and_digest(api_client):
    public_id = send_sms(api_client)
    finish(public_id)

    response = api_client.get(f"/api/rest/sms/certificates/{public_id}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    certificate = Certificate.objects.get(message__public_id=public_id)
    text = pdf_text(response.content)
    for expected in ("ACME", "34666555444", "Contract 42 signed", public_id, "sent", "delivered", certificate.digest):
        assert expected in text
    assert response["X-Certificate-SHA256"] == certificate.digest


def test_the_record_inside_the_pdf_hashes_to_the_printed_and_stored_digest(api_client):
    public_id = send_sms(api_client)
    finish(public_id)

    content = api_client.get(f"/api/rest/sms/certificates/{public_id}").content

    record = pdf_record(content)
    certificate = Certificate.objects.get(message__public_id=public_id)
    assert hashlib.sha256(record).hexdigest() == certificate.digest
    assert record.decode() == certificate.record
    data = json.loads(record)
    assert data["message"]["content"]["body"] == "Contract 42 signed"
    assert data["message"]["from"]["address"] == "ACME" and data["message"]["to"] == "34666555444"
    assert data["account"]["name"] == certificate.account.name
    assert [event["type"] for event in data["events"]] == ["sent", "delivered"]
    assert all(event["date"].endswith("Z") for event in data["events"])


def test_recomputing_the_digest_from_the_stored_record_matches_and_a_changed_record_does_not(api_client):
    public_id = send_sms(api_client)
    finish(public_id)
    api_client.get(f"/api/rest/sms/certificates/{public_id}")
    certificate = Certificate.objects.get(message__public_id=public_id)

    assert record_digest(certificate.record) == certificate.digest
    assert record_canonical(json.loads(certificate.record)) == certificate.record
    assert certificate_verify(certificate=certificate)
    tampered = certificate.record.replace("Contract 42 signed", "Contract 43 signed")
    assert not certificate_verify(certificate=certificate, record_text=tampered)


def test_the_certificate_is_issued_once_and_later_downloads_serve_the_same_bytes(api_client):
    public_id = send_sms(api_client)
    finish(public_id)

    first = api_client.get(f"/api/rest/sms/certificates/{public_id}").content
    # An event recorded after issue (a late duplicate report) does not change the certificate.
    finish(public_id, event_type="undelivered")
    second = api_client.get(f"/api/rest/sms/certificates/{public_id}").content

    assert first == second
    assert Certificate.objects.filter(message__public_id=public_id).count() == 1


def test_a_certified_email_certificate_holds_subject_body_and_sender(api_client):
    public_id = send_mailing(api_client)
    finish(public_id, event_type="hard_bounced", reason="550 mailbox unavailable")

    response = api_client.get(f"/api/rest/mailing/certificates/{public_id}")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    for expected in ("news@acme.test", "ana@example.com", "Your contract", "Contract 42 is attached.", "hard_bounced"):
        assert expected in text
    data = json.loads(pdf_record(response.content))
    assert data["message"]["content"]["subject"] == "Your contract"
    assert data["message"]["status"] == "hard_bounced"
    assert data["events"][-1]["detail"] == "550 mailbox unavailable"


def test_content_in_any_script_is_printed(api_client):
    body = "Ñandú · Привет · Γειά σου"  # noqa: RUF001 - the point is non-Latin letters
    public_id = send_sms(api_client, message=body, encoding="utf-16")
    finish(public_id)

    response = api_client.get(f"/api/rest/sms/certificates/{public_id}")

    assert response.status_code == 200
    assert body in pdf_text(response.content)


def test_a_client_asking_for_application_pdf_gets_it(api_client):
    public_id = send_sms(api_client)
    finish(public_id)

    response = api_client.get(f"/api/rest/sms/certificates/{public_id}", HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


def _not_found(response, description: str = "Resource not found") -> bool:
    return response.status_code == 404 and response.json() == {"error": {"code": 404, "description": description}}


def test_a_message_sent_without_certified_has_no_certificate(api_client):
    public_id = send_sms(api_client, certified=False)
    finish(public_id)

    assert _not_found(api_client.get(f"/api/rest/sms/certificates/{public_id}"))
    assert not Certificate.objects.exists()


def test_a_certified_message_not_final_yet_answers_404_saying_so(api_client):
    public_id = send_sms(api_client)

    queued = api_client.get(f"/api/rest/sms/certificates/{public_id}")
    finish(public_id, event_type="sent")  # sent is not final: the handset may still not get it
    sent = api_client.get(f"/api/rest/sms/certificates/{public_id}")

    for response in (queued, sent):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == 404
        assert "final state" in response.json()["error"]["description"]
    assert not Certificate.objects.exists()


def test_unknown_ids_and_the_other_channels_ids_answer_404(api_client):
    sms_id = send_sms(api_client)
    mail_id = send_mailing(api_client)
    finish(sms_id)
    finish(mail_id)

    assert _not_found(api_client.get("/api/rest/sms/certificates/NOSUCHMESSAGE"))
    assert _not_found(api_client.get(f"/api/rest/sms/certificates/{'X' * 40}"))
    assert _not_found(api_client.get(f"/api/rest/mailing/certificates/{sms_id}"))
    assert _not_found(api_client.get(f"/api/rest/sms/certificates/{mail_id}"))


def test_an_id_holding_a_nul_byte_answers_404_not_a_server_error(api_client):
    assert _not_found(api_client.get("/api/rest/sms/certificates/%00"))
    assert _not_found(api_client.get("/api/rest/mailing/certificates/AB%00CD"))


def test_another_accounts_certificate_answers_404_like_a_missing_one(api_client, other_client):
    public_id = send_sms(api_client)
    finish(public_id)

    assert _not_found(other_client.get(f"/api/rest/sms/certificates/{public_id}"))
    assert not Certificate.objects.exists()


def test_without_credentials_the_answer_is_401(client, api_client):
    public_id = send_sms(api_client)
    finish(public_id)

    response = client.get(f"/api/rest/sms/certificates/{public_id}")

    assert response.status_code == 401 and response.json()["error"]["code"] == 103


def test_the_openapi_schema_documents_both_certificate_downloads_without_warnings():
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator(patterns=[path("api/rest/", include("certificates.api"))]).get_schema(public=True)

    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._warn_cache)
    for url in ("/api/rest/sms/certificates/{message_id}", "/api/rest/mailing/certificates/{message_id}"):
        assert "application/pdf" in schema["paths"][url]["get"]["responses"]["200"]["content"]
