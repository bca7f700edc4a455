"""Event notifications out (message notificationUrl GET, account signed POST, retries) and the
sending engine's admin pages."""

import hashlib
import hmac
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.urls import reverse

import messaging.notifications as notifications
from messaging.events import events_record
from messaging.models import (
    Event,
    InboundWebhook,
    Notification,
    NotificationAttempt,
    NotificationKind,
    NotificationStatus,
    ProviderRoute,
)
from messaging.notifications import (
    account_post_fields,
    message_url_render,
    notifications_deliver_batch,
    notifications_enqueue,
    notifications_retry,
)
from messaging.providers.base import DeliveryEvent
from tests.fakes.receiver import Receiver
from tests.messaging.provider_contract import message_create, sending_create

T0 = datetime(2024, 9, 21, 14, 18, 30, tzinfo=UTC)
SECRET = "account-webhook-secret"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def record(message, event_type: str, *, occurred_at=T0, **fields) -> Event:
    [event] = events_record(
        events=[
            DeliveryEvent(
                type=event_type,
                occurred_at=occurred_at,
                provider="test",
                provider_event_id=f"{message.public_id}-{event_type}-{occurred_at.isoformat()}",
                message_public_id=message.public_id,
                **fields,
            )
        ]
    )
    return Event.objects.select_related("message__sending__campaign", "account").get(pk=event.pk)


@pytest.fixture
def sms(account):
    sending = sending_create(account, channel="sms", campaign_name="Spring")
    return message_create(
        account,
        sending=sending,
        sender="ACME",
        recipient="34666555444",
        cost=Decimal("0.05500"),
        sent_at=datetime(2024, 9, 21, 14, 18, 5, tzinfo=UTC),
        notification_url="https://example.com/notify.php?sender=%p&phone=%P&status=%s&customId=123456",
    )


# Enqueue ----------------------------------------------------------------------------------------


def test_a_delivery_report_notifies_the_message_url_and_the_account_url(account, sms):
    account.event_notification_url = "https://hooks.acme.test/events"
    account.save()
    event = record(sms, "delivered")
    notifications_enqueue(events=[event])
    kinds = dict(Notification.objects.filter(event=event).values_list("kind", "url"))
    assert kinds == {
        NotificationKind.MESSAGE_URL: sms.notification_url,
        NotificationKind.ACCOUNT_URL: "https://hooks.acme.test/events",
    }


def test_engagement_events_go_to_the_account_url_only(account, sms):
    account.event_notification_url = "https://hooks.acme.test/events"
    account.save()
    event = record(sms, "clicked", url="https://acme.test/offer")
    notifications_enqueue(events=[event])
    assert list(Notification.objects.values_list("kind", flat=True)) == [NotificationKind.ACCOUNT_URL]


def test_no_url_no_notification(account):
    message = message_create(account)
    notifications_enqueue(events=[record(message, "delivered")])
    assert not Notification.objects.exists()


def test_events_record_enqueues_notifications_once_it_commits(account, sms, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        record(sms, "delivered")
    assert Notification.objects.filter(kind=NotificationKind.MESSAGE_URL).count() == 1


def test_enqueue_queues_delivery_on_commit(account, sms, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kwargs: queued.append(func))
    monkeypatch.setattr(notifications, "_last_kick", 0.0)
    event = record(sms, "delivered")
    with django_capture_on_commit_callbacks(execute=True):
        notifications_enqueue(events=[event])
    assert queued == ["messaging.notifications.deliver_due_notifications"]


# The message URL's escapes ----------------------------------------------------------------------


def test_the_spec_example_url_gets_sender_phone_and_status(sms):
    event = record(sms, "delivered")
    url = message_url_render(template=sms.notification_url, event=event)
    assert url == "https://example.com/notify.php?sender=ACME&phone=34666555444&status=DELIVRD&customId=123456"


def test_every_escape_is_replaced(sms):
    event = record(sms, "delivered", extra={"mnc": "07"})
    template = "https://x.test/?i=%i&p=%p&P=%P&t=%t&c=%c&s=%s&m=%m&y=%y&n=%n&C=%C&S=%S"
    url = message_url_render(template=template, event=event)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query == {
        "i": sms.public_id,
        "p": "ACME",
        "P": "34666555444",
        "t": "2024-09-21 14:18",
        "c": "0.055",
        "s": "DELIVRD",
        "m": "07",
        "y": "2024-09-21 14:18",
        "n": "1",
        "C": str(sms.sending.campaign_id),
        "S": str(sms.sending_id),
    }
    assert "t=2024-09-21%2014%3A18" in url


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("sent", "ACCEPTD"),
        ("delivered", "DELIVRD"),
        ("undelivered", "UNDELIV"),
        ("hard_bounced", "UNDELIV"),
        ("rejected", "REJECTD"),
        ("expired", "EXPIRED"),
    ],
)
def test_status_escape_maps_our_events_to_the_spec_codes(account, event_type, status):
    message = message_create(account, status="queued")
    event = record(message, event_type)
    assert message_url_render(template="%s", event=event) == status


def test_values_are_url_encoded_and_unknown_escapes_left_alone(account):
    message = message_create(account, sender="ACME & Co")
    event = record(message, "delivered")
    assert message_url_render(template="https://x.test/?p=%p&q=%q&r=100%", event=event) == (
        "https://x.test/?p=ACME%20%26%20Co&q=%q&r=100%"
    )


def test_campaign_escape_is_zero_without_a_campaign(account):
    message = message_create(account)
    assert message_url_render(template="%C", event=record(message, "delivered")) == "0"


# The account POST -------------------------------------------------------------------------------


def test_account_post_has_the_spec_fields_in_order(sms):
    event = record(sms, "delivered")
    fields = account_post_fields(event=event)
    assert [name for name, _value in fields] == [
        "id",
        "channel",
        "contactId",
        "campaignId",
        "campaignName",
        "formId",
        "event",
        "extra",
        "smtpResponse",
        "eventDate",
    ]
    values = dict(fields)
    assert values["id"] == sms.public_id
    assert values["channel"] == "sms"
    assert values["campaignId"] == str(sms.sending.campaign_id)
    assert values["campaignName"] == "Spring"
    assert values["event"] == "delivered"
    assert values["eventDate"] == "2024-09-21T14:18:30+00:00"
    assert values["smtpResponse"] == ""


def test_clicked_extra_carries_the_encoded_url(sms):
    event = record(sms, "clicked", url="https://acme.test/offer?a=1&b=2")
    assert (
        dict(account_post_fields(event=event))["extra"] == '{"url":"https%3A%2F%2Facme.test%2Foffer%3Fa%3D1%26b%3D2"}'
    )


def test_email_bounce_carries_the_smtp_response_and_no_campaign_means_zero(account):
    email = message_create(account, channel="mailing", recipient="john@example.com", status="sent")
    event = record(email, "hard_bounced", extra={"smtp_response": "550 5.1.1 unknown user"})
    values = dict(account_post_fields(event=event))
    assert values["smtpResponse"] == "550 5.1.1 unknown user"
    assert values["campaignId"] == "0"
    assert values["campaignName"] == ""
    assert "smtp_response" not in values["extra"]


def test_form_submitted_extra_keeps_the_form_values(account):
    message = message_create(account, channel="landing")
    event = record(message, "form_submitted", extra={"formId": 12, "formValues": {"name": "John"}})
    values = dict(account_post_fields(event=event))
    assert values["formId"] == "12"
    assert values["extra"] == '{"formValues":{"name":"John"}}'


# Delivery ---------------------------------------------------------------------------------------


def enqueue_for(account, message, event_type: str, receiver: Receiver, *, message_url: bool = False) -> Notification:
    if message_url:
        message.notification_url = receiver.url + "/dlr?id=%i&status=%s"
        message.save()
    else:
        account.event_notification_url = receiver.url + "/events"
        account.webhook_secret = SECRET
        account.save()
    event = record(message, event_type)
    notifications_enqueue(events=[event])
    Notification.objects.update(due_at=T0)
    return Notification.objects.get()


def test_account_post_is_form_encoded_and_signed_with_hmac_sha256(account, receiver):
    message = message_create(account)
    notification = enqueue_for(account, message, "delivered", receiver)
    assert notifications_deliver_batch(now=T0) == 1
    [request] = receiver.requests
    assert request["method"] == "POST"
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Signature"] == expected
    assert dict(parse_qsl(request["body"].decode()))["id"] == message.public_id
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED
    assert list(notification.attempt_log.values_list("number", "response_status")) == [(1, 200)]


def test_account_without_a_secret_gets_unsigned_posts(account, receiver):
    message = message_create(account)
    enqueue_for(account, message, "delivered", receiver)
    account.webhook_secret = ""
    account.save()
    notifications_deliver_batch(now=T0)
    assert "X-Signature" not in receiver.requests[0]["headers"]


def test_message_url_is_called_with_get_and_escapes(account, receiver):
    message = message_create(account)
    enqueue_for(account, message, "delivered", receiver, message_url=True)
    notifications_deliver_batch(now=T0)
    [request] = receiver.requests
    assert request["method"] == "GET"
    assert request["path"] == f"/dlr?id={message.public_id}&status=DELIVRD"


def test_failed_notifications_are_retried_after_1_2_3_4_and_5_minutes_then_given_up(account, receiver):
    message = message_create(account)
    notification = enqueue_for(account, message, "delivered", receiver)
    receiver.statuses = [500, 503, 404, 201, 302, 500]
    now = T0
    attempt_times = []
    for wait in [0, 1, 2, 3, 4, 5]:
        now += timedelta(minutes=wait)
        # Nothing is due a second before the retry time.
        assert notifications_deliver_batch(now=now - timedelta(seconds=1)) == 0
        assert notifications_deliver_batch(now=now) == 1
        attempt_times.append(now)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.attempts == 6
    assert [b - a for a, b in itertools.pairwise(attempt_times)] == [timedelta(minutes=m) for m in (1, 2, 3, 4, 5)]
    assert list(notification.attempt_log.values_list("number", "response_status")) == [
        (1, 500),
        (2, 503),
        (3, 404),
        (4, 201),
        (5, 302),
        (6, 500),
    ]
    assert len(receiver.requests) == 6
    # Given up: never sent again.
    assert notifications_deliver_batch(now=now + timedelta(hours=1)) == 0


def test_a_retry_that_succeeds_stops_the_retries(account, receiver):
    message = message_create(account)
    notification = enqueue_for(account, message, "delivered", receiver)
    receiver.statuses = [500]
    notifications_deliver_batch(now=T0)
    notifications_deliver_batch(now=T0 + timedelta(minutes=1))
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED
    assert notification.attempts == 2
    assert notifications_deliver_batch(now=T0 + timedelta(hours=1)) == 0


def test_connection_errors_are_recorded_and_retried(account):
    message = message_create(account)
    account.event_notification_url = "http://127.0.0.1:9/events"
    account.save()
    notifications_enqueue(events=[record(message, "delivered")])
    Notification.objects.update(due_at=T0)
    notifications_deliver_batch(now=T0)
    notification = Notification.objects.get()
    [attempt] = notification.attempt_log.all()
    assert attempt.response_status is None
    assert "could not connect to 127.0.0.1:9" in attempt.error
    assert notification.status == NotificationStatus.PENDING
    assert notification.due_at == T0 + timedelta(minutes=1)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_url_the_guard_refuses_at_call_time_is_a_failed_attempt_with_the_reason(account, receiver, settings, host):
    # Accepted earlier, refused now (say its DNS changed to a loopback address): tests/conftest.py
    # allows 127.0.0.1 for the fake receivers, so this test takes that away.
    settings.OUTBOUND_ALLOWED_HOSTS = []
    message = message_create(account)
    notification = enqueue_for(account, message, "delivered", receiver)
    Notification.objects.update(url=notification.url.replace("127.0.0.1", host))

    assert notifications_deliver_batch(now=T0) == 1

    notification.refresh_from_db()
    [attempt] = notification.attempt_log.all()
    assert attempt.response_status is None
    assert attempt.error.startswith("Refused: ") and "127.0.0.1 is loopback" in attempt.error
    assert notification.status == NotificationStatus.FAILED
    assert receiver.requests == []


def test_a_redirect_to_a_refused_address_is_not_followed(account, receiver):
    message = message_create(account)
    notification = enqueue_for(account, message, "delivered", receiver)
    receiver.statuses = [302]
    receiver.location = "http://169.254.169.254/latest/meta-data/"

    notifications_deliver_batch(now=T0)

    [attempt] = notification.attempt_log.all()
    assert "Refused: the address 169.254.169.254 is link-local" in attempt.error
    assert len(receiver.requests) == 1


def test_a_worker_dying_mid_batch_leaves_the_notification_pending_for_later(account, receiver, monkeypatch):
    message = message_create(account)
    notification = enqueue_for(account, message, "delivered", receiver)

    def die(request):
        raise SystemExit("worker killed")

    monkeypatch.setattr(notifications, "_perform", die)
    with pytest.raises(SystemExit):
        notifications_deliver_batch(now=T0)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 0
    monkeypatch.undo()
    # Not taken again while the dead worker's lease runs, then delivered.
    assert notifications_deliver_batch(now=T0 + timedelta(minutes=1)) == 0
    assert notifications_deliver_batch(now=T0 + notifications.LEASE) == 1
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED


def test_many_due_notifications_are_delivered_in_one_batch(account, receiver):
    account.event_notification_url = receiver.url + "/events"
    account.save()
    events = [record(message_create(account), "delivered") for _ in range(30)]
    notifications_enqueue(events=events)
    assert notifications.deliver_due_notifications() == 30
    assert len(receiver.requests) == 30
    assert NotificationAttempt.objects.count() == 30


def test_retry_now_delivers_a_failed_notification_again(account, receiver):
    message = message_create(account)
    notification = enqueue_for(account, message, "delivered", receiver)
    Notification.objects.update(status=NotificationStatus.FAILED, attempts=6)
    assert notifications_retry(ids=[notification.pk]) == 1
    assert notifications_deliver_batch() == 1
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED


# Admin ------------------------------------------------------------------------------------------


@pytest.fixture
def populated(account, receiver):
    message = message_create(account)
    notification = enqueue_for(account, message, "delivered", receiver)
    receiver.statuses = [500]
    notifications_deliver_batch(now=T0)
    webhook = InboundWebhook.objects.create(
        provider="twilio", content_type="x", body=b"MessageSid=SM1", error="parse: x"
    )
    route = ProviderRoute.objects.create(
        account=account,
        channel="sms",
        provider="twilio",
        settings={"account_sid": "AC123", "auth_token": "super-secret-twilio-token-value"},
    )
    return {"message": message, "notification": notification, "webhook": webhook, "route": route}


@pytest.mark.parametrize("model", ["message", "event", "inboundwebhook", "providerroute", "notification"])
def test_admin_changelists_render(admin_client, populated, model):
    response = admin_client.get(reverse(f"admin:messaging_{model}_changelist"))
    assert response.status_code == 200
    assert b"super-secret-twilio-token-value" not in response.content


def test_admin_detail_pages_render(admin_client, populated):
    message = populated["message"]
    event = message.events.get()
    for url in [
        reverse("admin:messaging_message_change", args=[message.pk]),
        reverse("admin:messaging_event_change", args=[event.pk]),
        reverse("admin:messaging_inboundwebhook_change", args=[populated["webhook"].pk]),
        reverse("admin:messaging_providerroute_add"),
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_admin_notification_page_shows_its_attempts(admin_client, populated):
    response = admin_client.get(reverse("admin:messaging_notification_change", args=[populated["notification"].pk]))
    assert response.status_code == 200
    assert b"500" in response.content


def test_admin_route_page_masks_credentials_and_keeps_them_on_save(admin_client, populated):
    route = populated["route"]
    url = reverse("admin:messaging_providerroute_change", args=[route.pk])
    page = admin_client.get(url)
    assert b"super-secret-twilio-token-value" not in page.content
    assert b"********alue" in page.content
    form = page.context["adminform"].form
    response = admin_client.post(
        url,
        {
            "account": route.account_id,
            "channel": "sms",
            "provider": "twilio",
            "settings": form["settings"].value(),
        },
    )
    assert response.status_code == 302
    route.refresh_from_db()
    assert route.settings == {"account_sid": "AC123", "auth_token": "super-secret-twilio-token-value"}


def test_admin_route_accepts_a_new_credential(admin_client, populated):
    route = populated["route"]
    url = reverse("admin:messaging_providerroute_change", args=[route.pk])
    admin_client.post(
        url,
        {
            "account": route.account_id,
            "channel": "sms",
            "provider": "twilio",
            "settings": '{"account_sid": "AC123", "auth_token": "rotated-token"}',
        },
    )
    route.refresh_from_db()
    assert route.settings["auth_token"] == "rotated-token"


def test_admin_retry_actions(admin_client, populated):
    admin_client.post(
        reverse("admin:messaging_inboundwebhook_changelist"),
        {"action": "retry", "_selected_action": [populated["webhook"].pk]},
    )
    populated["webhook"].refresh_from_db()
    assert populated["webhook"].error == ""
    Notification.objects.update(status=NotificationStatus.FAILED)
    admin_client.post(
        reverse("admin:messaging_notification_changelist"),
        {"action": "retry", "_selected_action": [populated["notification"].pk]},
    )
    assert Notification.objects.get().status == NotificationStatus.PENDING


def test_message_dates_are_utc_in_escapes_whatever_the_time_zone(account, settings):
    settings.TIME_ZONE = "Europe/Madrid"
    message = message_create(account, sent_at=datetime(2024, 1, 1, 23, 30, tzinfo=UTC))
    event = record(message, "delivered", occurred_at=datetime(2024, 1, 1, 23, 45, tzinfo=UTC))
    assert message_url_render(template="%t|%y", event=event) == "2024-01-01%2023%3A30|2024-01-01%2023%3A45"
