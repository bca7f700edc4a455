"""Builders for the certificate tests: certified messages sent through the API, dispatched to the
simulator and taken to a final state through the one event-recording service."""

import io
from typing import Any

from django.utils import timezone
from pypdf import PdfReader

from messaging.dispatch import dispatch_due
from messaging.events import events_record
from messaging.models import Message
from messaging.providers.base import DeliveryEvent


def send_sms(client, **body: Any) -> str:
    payload = {"to": ["34666555444"], "from": "ACME", "message": "Contract 42 signed", "certified": True, **body}
    response = client.post("/api/rest/sms", payload, format="json")
    assert response.status_code == 202, response.content
    return response.json()["result"][0]["id"]


def send_mailing(client, **body: Any) -> str:
    payload = {
        "to": ["ana@example.com"],
        "fromEmail": "news@acme.test",
        "replyTo": "news@acme.test",
        "fromName": "ACME",
        "subject": "Your contract",
        "body": "<p>Contract 42 is attached.</p>",
        "certified": True,
        "trackOpens": False,
        "trackClicks": False,
        **body,
    }
    response = client.post("/api/rest/mailing", payload, format="json")
    assert response.status_code == 202, response.content
    return response.json()["result"][0]["id"]


def finish(public_id: str, event_type: str = "delivered", reason: str = "") -> Message:
    """Dispatch the message (the simulator accepts it: `sent`) and record its final event."""
    dispatch_due(budget_seconds=10)
    events_record(
        events=[
            DeliveryEvent(
                type=event_type,
                occurred_at=timezone.now(),
                provider="simulator",
                provider_event_id=f"test:{public_id}:{event_type}",
                message_public_id=public_id,
                reason=reason,
            )
        ]
    )
    return Message.objects.get(public_id=public_id)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def pdf_record(content: bytes) -> bytes:
    """The record.json attached to a certificate PDF."""
    attachments = PdfReader(io.BytesIO(content)).attachments
    [data] = attachments["record.json"]
    return data
