"""The SMTP provider against a local SMTP sink and anymail's test backend, and anymail's
tracking webhooks (Postmark, Mailgun) feeding the common event path."""

import base64
import hashlib
import hmac
import json
import smtplib
import time

import pytest
import requests
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from contacts.models import BlacklistEntry
from messaging.models import Event, InboundWebhook, Message, MessageStatus
from messaging.providers import provider_class
from messaging.providers.base import OutboundMessage
from messaging.providers.smtp import ANYMAIL_EVENTS, SmtpProvider
from messaging.webhooks import inbound_webhooks_process
from tests.conftest import basic_auth
from tests.fakes.smtp_sink import SmtpSink
from tests.messaging.provider_contract import (
    WebhookRequest,
    WebhookSignatureContract,
    fresh_webhook_state,  # noqa: F401  (autouse)
    message_create,
    post,
)

WEBHOOK_AUTH = "anymail-user:anymail-pass"
MAILGUN_KEY = "mailgun-webhook-signing-key"
ANYMAIL_SETTINGS = {"WEBHOOK_SECRET": WEBHOOK_AUTH, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def sink():
    with SmtpSink() as server:
        yield server


@pytest.fixture
def provider(sink) -> SmtpProvider:
    return SmtpProvider(
        {"backend": SMTP_BACKEND, "connection": {"host": sink.host, "port": sink.port, "timeout": 5}, "connections": 1}
    )


def email_message(
    number: int = 1, recipient: str = "john@example.com", body: str = "<p>Hello <b>John</b></p>", **options
) -> OutboundMessage:
    return OutboundMessage(
        message_id=number,
        public_id=f"E{number:011d}",
        channel="mailing",
        sender="news@acme.test",
        recipient=recipient,
        subject="Spring offers",
        body=body,
        options=options,
    )


# Sending ----------------------------------------------------------------------------------------


def test_smtp_is_registered_as_a_provider():
    assert provider_class("smtp") is SmtpProvider


def test_a_batch_reuses_a_few_parallel_smtp_connections(sink):
    provider = SmtpProvider({"backend": SMTP_BACKEND, "connection": {"host": sink.host, "port": sink.port}})
    results = provider.send_batch([email_message(n, f"user{n}@example.com") for n in range(1, 21)])
    assert all(r.accepted for r in results)
    assert [r.message_id for r in results] == list(range(1, 21))
    assert len(sink.messages) == 20
    assert sink.sessions == 4


def test_connections_setting_sends_a_batch_over_one_connection(sink):
    provider = SmtpProvider(
        {"backend": SMTP_BACKEND, "connection": {"host": sink.host, "port": sink.port}, "connections": 1}
    )
    assert all(r.accepted for r in provider.send_batch([email_message(n, f"u{n}@example.com") for n in range(5)]))
    assert sink.sessions == 1


def test_message_id_is_derived_from_our_public_id_and_is_the_provider_id(provider, sink):
    [result] = provider.send_batch([email_message(7)])
    assert result.provider_message_id == "E00000000007@acme.test"
    assert sink.messages[0].message["Message-ID"] == "<E00000000007@acme.test>"


def test_message_id_domain_can_be_set_per_route(sink):
    provider = SmtpProvider(
        {"connection": {"host": sink.host, "port": sink.port}, "backend": SMTP_BACKEND, "message_id_domain": "mx.acme"}
    )
    assert provider.send(email_message(3)) == "E00000000003@mx.acme"


def test_email_carries_names_reply_to_cc_bcc_headers_and_both_bodies(provider, sink):
    attachment = base64.b64encode(b"%PDF-1.4 fake").decode()
    provider.send(
        email_message(
            from_name="ACME News",
            reply_to="support@acme.test",
            cc=["boss@example.com"],
            bcc=["audit@acme.test"],
            headers={
                "List-Unsubscribe": "<https://acme.test/u/abc>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            attachments=[{"name": "offer.pdf", "content": attachment, "content_type": "application/pdf"}],
        )
    )
    [received] = sink.messages
    parsed = received.message
    assert parsed["From"] == "ACME News <news@acme.test>"
    assert parsed["To"] == "john@example.com"
    assert parsed["Cc"] == "boss@example.com"
    assert parsed["Bcc"] is None
    assert parsed["Reply-To"] == "support@acme.test"
    assert parsed["Subject"] == "Spring offers"
    assert parsed["List-Unsubscribe"] == "<https://acme.test/u/abc>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert set(received.rcpt_tos) == {"john@example.com", "boss@example.com", "audit@acme.test"}
    assert parsed.get_body(("plain",)).get_content().strip() == "Hello John"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hello <b>John</b></p>"
    [part] = list(parsed.iter_attachments())
    assert part.get_filename() == "offer.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == b"%PDF-1.4 fake"


def test_explicit_text_body_is_used_for_the_plain_part(provider, sink):
    provider.send(email_message(text_body="Plain version"))
    assert sink.messages[0].message.get_body(("plain",)).get_content().strip() == "Plain version"


def test_refused_recipient_is_permanent_and_the_rest_of_the_batch_is_sent(provider, sink):
    sink.refuse("gone@example.com", "550 5.1.1 No such user")
    results = provider.send_batch(
        [email_message(1, "a@example.com"), email_message(2, "gone@example.com"), email_message(3, "b@example.com")]
    )
    assert [r.accepted for r in results] == [True, False, True]
    assert results[1].error.permanent is True
    assert results[1].error.code == "550"
    assert "No such user" in results[1].error.reason
    assert len(sink.messages) == 2


def test_greylisted_recipient_is_transient(provider, sink):
    sink.refuse("grey@example.com", "451 4.7.1 Greylisted, try again later")
    [result] = provider.send_batch([email_message(1, "grey@example.com")])
    assert result.error.permanent is False
    assert result.error.code == "451"


@pytest.mark.parametrize(
    ("reply", "permanent"), [("554 5.7.1 Message rejected as spam", True), ("452 4.3.1 Full", False)]
)
def test_data_refusal_maps_5xx_permanent_and_4xx_transient(provider, sink, reply, permanent):
    sink.fail_data_next(reply)
    [result, after] = provider.send_batch([email_message(1), email_message(2)])
    assert result.error.permanent is permanent
    assert result.error.code == reply[:3]
    assert after.accepted


def test_unreachable_smtp_server_is_transient_and_sent_nothing():
    provider = SmtpProvider({"backend": SMTP_BACKEND, "connection": {"host": "127.0.0.1", "port": 9, "timeout": 2}})
    results = provider.send_batch([email_message(1), email_message(2)])
    assert [r.error.code for r in results] == ["connection", "connection"]
    assert all(r.error.permanent is False for r in results)


class DisconnectingBackend(BaseEmailBackend):
    """A server that drops the connection in the middle of the first message."""

    sent: list[str] = []

    def send_messages(self, email_messages):
        if not DisconnectingBackend.sent:
            DisconnectingBackend.sent.append("dropped")
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        DisconnectingBackend.sent.append(email_messages[0].to[0])
        return 1


def test_connection_lost_mid_message_is_maybe_sent_and_the_batch_goes_on():
    DisconnectingBackend.sent = []
    provider = SmtpProvider({"backend": "tests.messaging.test_smtp.DisconnectingBackend"})
    first, second = provider.send_batch([email_message(1, "a@example.com"), email_message(2, "b@example.com")])
    assert first.error.code == "maybe_sent"
    assert first.error.permanent is False
    assert second.accepted
    assert DisconnectingBackend.sent == ["dropped", "b@example.com"]


def test_email_backend_defaults_to_settings_email_backend():
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        SmtpProvider().send(email_message(1))
    assert mail.outbox[0].to == ["john@example.com"]
    assert mail.outbox[0].extra_headers["Message-ID"] == "<E00000000001@acme.test>"


def test_anymail_backend_gets_metadata_and_the_esps_id_is_kept():
    provider = SmtpProvider({"backend": "anymail.backends.test.EmailBackend"})
    mail.outbox = []
    provider_id = provider.send(email_message(5, track_opens=True, track_clicks=False))
    sent = mail.outbox[0]
    assert sent.anymail_test_params["metadata"] == {"public_id": "E00000000005"}
    assert sent.anymail_test_params["track_opens"] is True
    assert sent.anymail_test_params["track_clicks"] is False
    assert provider_id == str(sent.anymail_status.recipients["john@example.com"].message_id)


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (422, True), (429, False), (500, False), (503, False)])
def test_anymail_esp_errors_follow_the_http_status(status, permanent, monkeypatch):
    from anymail.exceptions import AnymailAPIError

    provider = SmtpProvider({"backend": "anymail.backends.test.EmailBackend"})
    original = provider.build_email

    def build_failing(message, *, connection=None):
        email, message_id = original(message, connection=connection)
        response = requests.Response()
        response.status_code, response.reason, response._content = status, "ESP says no", b'{"error": "no"}'
        email.anymail_test_response = AnymailAPIError("ESP says no", status_code=status, response=response)
        return email, message_id

    monkeypatch.setattr(provider, "build_email", build_failing)
    [result] = provider.send_batch([email_message(1)])
    assert result.error.permanent is permanent
    assert result.error.code == str(status)


def test_smtp_cannot_look_a_message_up():
    with pytest.raises(NotImplementedError):
        SmtpProvider().lookup(email_message(1))


def test_connection_credentials_never_appear_in_the_provider_repr():
    provider = SmtpProvider({"backend": SMTP_BACKEND, "connection": {"password": "smtp-secret"}})
    assert "smtp-secret" not in repr(provider)


# Anymail tracking events ------------------------------------------------------------------------


def anymail_item(event_type: str, **fields) -> dict:
    return {
        "esp": "Postmark",
        "event_type": event_type,
        "event_id": fields.pop("event_id", None),
        "message_id": fields.pop("message_id", "esp-1"),
        "recipient": "john@example.com",
        "metadata": fields.pop("metadata", {}),
        "tags": [],
        "reject_reason": None,
        "description": None,
        "mta_response": None,
        "click_url": None,
        "user_agent": None,
        "timestamp": "2024-05-01T10:00:00+00:00",
        **fields,
    }


def parse(*items: dict):
    return SmtpProvider().parse_webhook("application/json", json.dumps(list(items)).encode())


@pytest.mark.parametrize(
    ("anymail_type", "our_type"),
    [
        ("delivered", "delivered"),
        ("bounced", "hard_bounced"),
        ("deferred", "soft_bounced"),
        ("rejected", "rejected"),
        ("failed", "rejected"),
        ("opened", "opened"),
        ("clicked", "clicked"),
        ("complained", "complaint"),
        ("unsubscribed", "unsubscribed"),
    ],
)
def test_anymail_event_types_map_to_ours(anymail_type, our_type):
    [event] = parse(anymail_item(anymail_type))
    assert event.type == our_type == ANYMAIL_EVENTS[anymail_type]
    assert event.provider == "smtp"


@pytest.mark.parametrize("anymail_type", ["queued", "sent", "autoresponded", "subscribed", "unknown"])
def test_anymail_events_without_a_counterpart_make_no_event(anymail_type):
    assert parse(anymail_item(anymail_type)) == []


def test_anymail_event_finds_the_message_by_metadata_or_esp_id_without_brackets():
    [event] = parse(anymail_item("delivered", message_id="<abc@mx.esp>", metadata={"public_id": "E1"}))
    assert event.message_public_id == "E1"
    assert event.provider_message_id == "abc@mx.esp"


def test_anymail_event_id_is_the_esps_or_a_stable_hash():
    [with_id] = parse(anymail_item("delivered", event_id="42"))
    assert with_id.provider_event_id == "Postmark:42"
    [first] = parse(anymail_item("opened"))
    [again] = parse(anymail_item("opened"))
    [other] = parse(anymail_item("opened", timestamp="2024-05-01T10:05:00+00:00"))
    assert first.provider_event_id == again.provider_event_id != other.provider_event_id


def test_anymail_bounce_keeps_the_smtp_response_and_click_keeps_the_url():
    [bounce] = parse(anymail_item("bounced", mta_response="550 5.1.1 unknown user", description="Hard bounce"))
    assert bounce.extra["smtp_response"] == "550 5.1.1 unknown user"
    assert bounce.reason == "Hard bounce"
    [click] = parse(anymail_item("clicked", click_url="https://acme.test/offer", user_agent="Mozilla/5.0"))
    assert click.url == "https://acme.test/offer"
    assert click.user_agent == "Mozilla/5.0"


# Postmark: a real tracking webhook, basic auth --------------------------------------------------

POSTMARK_PATH = "/webhooks/anymail/postmark/tracking/"


def postmark_delivery(message_id: str, public_id: str) -> dict:
    # As documented by Postmark (Delivery webhook), with our metadata.
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message_id,
        "Recipient": "john@example.com",
        "Tag": "welcome-email",
        "DeliveredAt": "2024-05-01T10:00:00Z",
        "Details": "Test delivery webhook details",
        "Metadata": {"public_id": public_id},
    }


def postmark_bounce(message_id: str) -> dict:
    return {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "Test",
        "MessageID": message_id,
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "john@example.com",
        "From": "news@acme.test",
        "BouncedAt": "2024-05-01T10:00:00Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Spring offers",
        "Metadata": {},
    }


def postmark_request(payload: dict, auth: str = WEBHOOK_AUTH) -> WebhookRequest:
    user, _, password = auth.partition(":")
    return WebhookRequest(
        POSTMARK_PATH, json.dumps(payload).encode(), "application/json", {"Authorization": basic_auth(user, password)}
    )


@pytest.fixture
def anymail_settings(settings):
    settings.ANYMAIL = ANYMAIL_SETTINGS


@pytest.fixture
def email(account) -> Message:
    return message_create(
        account,
        channel="mailing",
        provider="smtp",
        provider_message_id="883953f4-6105-42a2-a16a-77a8eac79483",
        recipient="john@example.com",
        sender="news@acme.test",
    )


def test_postmark_delivery_webhook_marks_the_email_delivered(anymail_settings, email):
    response = post(postmark_request(postmark_delivery(email.provider_message_id, email.public_id)))
    assert response.status_code == 200
    stored = InboundWebhook.objects.get()
    assert stored.provider == "anymail"
    inbound_webhooks_process()
    email.refresh_from_db()
    assert email.status == MessageStatus.DELIVERED
    event = Event.objects.get(message=email)
    assert event.provider == "smtp"
    assert event.extra["smtp_response"] == "Test delivery webhook details"


def test_postmark_hard_bounce_found_by_esp_id_blacklists_the_address(anymail_settings, email, account):
    assert post(postmark_request(postmark_bounce(email.provider_message_id))).status_code == 200
    inbound_webhooks_process()
    email.refresh_from_db()
    assert email.status == MessageStatus.HARD_BOUNCED
    assert Event.objects.get(message=email).provider_event_id == "Postmark:4323372036854775807"
    assert BlacklistEntry.objects.filter(account=account, type="mailing", recipient="john@example.com").exists()


def test_postmark_webhook_with_wrong_basic_auth_is_refused_and_logged(anymail_settings, email, caplog):
    response = post(postmark_request(postmark_delivery(email.provider_message_id, email.public_id), "who:ever"))
    assert response.status_code == 403
    assert InboundWebhook.objects.count() == 0
    assert "Refused anymail webhook" in caplog.text


def test_anymail_webhooks_are_refused_while_no_webhook_secret_is_configured(settings, email, caplog):
    settings.ANYMAIL = {}
    response = post(postmark_request(postmark_delivery(email.provider_message_id, email.public_id)))
    assert response.status_code == 403
    assert InboundWebhook.objects.count() == 0
    assert "WEBHOOK_SECRET" in caplog.text


# Mailgun: a signed tracking webhook, through the shared contract ---------------------------------

MAILGUN_PATH = "/webhooks/anymail/mailgun/tracking/"


def mailgun_signature(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def mailgun_payload(message_id: str, *, key: str = MAILGUN_KEY, timestamp: str | None = None) -> dict:
    timestamp = timestamp or str(int(time.time()))
    token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": mailgun_signature(key, timestamp, token)},
        "event-data": {
            "event": "delivered",
            "timestamp": 1521472262.908181,
            "id": "CPgfbmQMTCKtHW6uIWtuVe",
            "recipient": "john@example.com",
            "message": {"headers": {"message-id": message_id}},
            "user-variables": {},
            "delivery-status": {"code": 250, "message": "OK", "description": ""},
        },
    }


def mailgun_request(payload: dict, auth: str = WEBHOOK_AUTH) -> WebhookRequest:
    user, _, password = auth.partition(":")
    return WebhookRequest(
        MAILGUN_PATH, json.dumps(payload).encode(), "application/json", {"Authorization": basic_auth(user, password)}
    )


class TestMailgunWebhookContract(WebhookSignatureContract):
    provider = "anymail"

    def configure_settings(self, settings):
        settings.ANYMAIL = ANYMAIL_SETTINGS

    def configure(self, account):
        pass

    def message_for(self, account):
        return message_create(
            account,
            channel="mailing",
            provider="smtp",
            provider_message_id="20240501.1@mg.acme.test",
            recipient="john@example.com",
        )

    def delivered_report(self, message):
        return mailgun_request(mailgun_payload(message.provider_message_id))

    def tampered(self, request):
        payload = json.loads(request.body)
        payload["signature"]["timestamp"] = str(int(payload["signature"]["timestamp"]) + 1)
        return WebhookRequest(request.path, json.dumps(payload).encode(), request.content_type, request.headers)

    def unsigned(self, request):
        payload = json.loads(request.body)
        del payload["signature"]
        return WebhookRequest(request.path, json.dumps(payload).encode(), request.content_type, request.headers)

    def wrong_secret(self, message):
        return mailgun_request(mailgun_payload(message.provider_message_id, key="someone-elses-key"))


@override_settings(ANYMAIL=ANYMAIL_SETTINGS)
def test_mailgun_webhook_without_basic_auth_is_refused(email):
    request = mailgun_request(mailgun_payload(email.provider_message_id)).without_headers("Authorization")
    assert post(request).status_code == 403
    assert InboundWebhook.objects.count() == 0


def test_anymail_signal_sent_outside_our_views_is_still_stored(email):
    from anymail.signals import AnymailTrackingEvent, tracking

    event = AnymailTrackingEvent(
        event_type="opened", message_id=email.provider_message_id, metadata={}, event_id="x1", timestamp=None
    )
    tracking.send(sender=object, event=event, esp_name="SendGrid")
    stored = InboundWebhook.objects.get()
    assert stored.provider == "anymail"
    assert json.loads(bytes(stored.body))[0]["event_type"] == "opened"
