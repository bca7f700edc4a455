from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Channel
from contacts.models import BlacklistEntry
from messaging.events import events_record, user_agent_parse
from messaging.models import Event, Message, MessageStatus
from messaging.notifications import EventNotice
from messaging.providers.base import DeliveryEvent
from tests.messaging.pipeline_factories import make_messages, make_sending

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def event(type_: str, message: Message, *, seconds: int = 0, **fields) -> DeliveryEvent:
    return DeliveryEvent(
        type=type_,
        occurred_at=NOW + timedelta(seconds=seconds),
        message_public_id=fields.pop("public_id", message.public_id),
        **fields,
    )


@pytest.fixture
def sent_sms(account) -> Message:
    sending = make_sending(account)
    return make_messages(sending, 1, status=MessageStatus.SENT, provider="gw", provider_message_id="gw-1")[0]


def counters(message: Message) -> dict[str, int]:
    message.sending.refresh_from_db()
    s = message.sending
    return {
        name: getattr(s, name)
        for name in ("sent", "delivered", "undelivered", "hard_bounced", "opened", "opened_unique", "clicked",
                     "clicked_unique", "complaint", "unsubscribed")
        if getattr(s, name)
    }  # fmt: skip


def test_an_event_moves_the_message_forward_and_is_stored_and_counted(sent_sms):
    created = events_record(events=[event("delivered", sent_sms, provider="gw", provider_event_id="e1")])

    assert [e.type for e in created] == ["delivered"]
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED and sent_sms.final_at == NOW
    assert counters(sent_sms) == {"delivered": 1}
    stored = Event.objects.get()
    assert (stored.account_id, stored.sending_id, stored.provider, stored.provider_event_id) == (
        sent_sms.account_id, sent_sms.sending_id, "gw", "e1",
    )  # fmt: skip


def test_a_report_that_arrives_twice_counts_once(sent_sms):
    report = event("delivered", sent_sms, provider="gw", provider_event_id="e1")

    events_record(events=[report, report])
    assert events_record(events=[report]) == []

    assert Event.objects.count() == 1
    assert counters(sent_sms) == {"delivered": 1}


def test_a_message_is_found_by_the_provider_message_id(sent_sms):
    events_record(events=[DeliveryEvent(type="delivered", occurred_at=NOW, provider="gw", provider_message_id="gw-1")])

    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED


def test_the_same_provider_message_id_at_another_provider_is_not_this_message(sent_sms):
    created = events_record(
        events=[DeliveryEvent(type="delivered", occurred_at=NOW, provider="other", provider_message_id="gw-1")]
    )

    assert created == []
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.SENT


def test_an_event_for_an_unknown_message_is_dropped(sent_sms):
    assert events_record(events=[event("delivered", sent_sms, public_id="nope")]) == []
    assert Event.objects.count() == 0


def test_a_late_sent_never_overwrites_delivered(sent_sms):
    events_record(events=[event("delivered", sent_sms, seconds=5, provider_event_id="d")])
    events_record(events=[event("sent", sent_sms, seconds=1, provider_event_id="s")])

    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED
    assert counters(sent_sms) == {"delivered": 1, "sent": 1}


def test_events_of_one_batch_apply_in_the_order_they_happened(sent_sms):
    events_record(
        events=[
            event("delivered", sent_sms, seconds=5, provider_event_id="d"),
            event("soft_bounced", sent_sms, seconds=1, provider_event_id="b"),
        ]
    )

    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED


def test_a_second_contradicting_final_outcome_is_kept_but_neither_moves_nor_counts(sent_sms):
    events_record(events=[event("delivered", sent_sms, provider_event_id="d")])
    created = events_record(events=[event("undelivered", sent_sms, seconds=1, provider_event_id="u")])

    assert [e.type for e in created] == ["undelivered"]
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED
    assert counters(sent_sms) == {"delivered": 1}


def test_a_failure_report_keeps_its_reason_on_the_message(sent_sms):
    events_record(events=[event("undelivered", sent_sms, reason="handset off")])

    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.error_reason) == (MessageStatus.UNDELIVERED, "handset off")
    assert Event.objects.get().extra == {"reason": "handset off"}


def test_counters_are_updated_once_per_sending_per_batch(account):
    sending = make_sending(account, channel=Channel.MAILING)
    messages = make_messages(sending, 30, status=MessageStatus.SENT)
    batch = [event("delivered", m, provider_event_id=f"d{m.pk}") for m in messages]

    with CaptureQueriesContext(connection) as captured:
        events_record(events=batch)

    sending_updates = [q for q in captured if q["sql"].startswith('UPDATE "campaigns_sending"')]
    assert len(sending_updates) == 1
    sending.refresh_from_db()
    assert sending.delivered == 30


def test_unique_opens_and_clicks_count_a_message_once(account):
    sending = make_sending(account, channel=Channel.MAILING)
    first, second = make_messages(sending, 2, status=MessageStatus.DELIVERED)

    events_record(events=[event("opened", first, seconds=1), event("opened", first, seconds=2)])
    events_record(
        events=[event("opened", first, seconds=3), event("opened", second, seconds=3), event("clicked", second)]
    )

    sending.refresh_from_db()
    assert (sending.opened, sending.opened_unique, sending.clicked, sending.clicked_unique) == (4, 2, 1, 1)
    first.refresh_from_db()
    assert first.status == MessageStatus.DELIVERED


def test_an_open_records_the_browser_and_device(account):
    sending = make_sending(account, channel=Channel.MAILING)
    message = make_messages(sending, 1, status=MessageStatus.DELIVERED)[0]
    agent = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari"

    events_record(events=[event("clicked", message, user_agent=agent, url="https://example.com/x")])

    stored = Event.objects.get()
    assert (stored.browser, stored.os, stored.is_mobile, stored.url) == (
        "Chrome",
        "Android",
        True,
        "https://example.com/x",
    )


def test_user_agent_parse_knows_the_common_families():
    assert user_agent_parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/125.0") == (
        "Firefox", "Windows", False,
    )  # fmt: skip
    assert user_agent_parse("") == ("", "", False)


@pytest.mark.parametrize("type_", ["hard_bounced", "complaint"])
def test_hard_bounces_and_complaints_blacklist_the_email_recipient(account, type_):
    sending = make_sending(account, channel=Channel.MAILING)
    message = make_messages(sending, 1, status=MessageStatus.SENT, recipient="Bounce@Example.com")[0]

    events_record(events=[event(type_, message)])

    entry = BlacklistEntry.objects.get()
    assert (entry.account_id, entry.type, entry.recipient, entry.sending_id) == (
        account.pk, "mailing", "bounce@example.com", sending.pk,
    )  # fmt: skip


def test_a_hard_bounced_sms_blacklists_the_number_on_the_sms_list(sent_sms):
    events_record(events=[event("hard_bounced", sent_sms)])

    assert list(BlacklistEntry.objects.values_list("type", "recipient")) == [("sms", sent_sms.recipient)]


def test_a_stop_reply_finds_the_latest_message_to_that_number_and_blacklists_it(account):
    sending = make_sending(account)
    older = make_messages(sending, 1, status=MessageStatus.DELIVERED, provider="twilio", recipient="34666000111")[0]
    latest = make_messages(sending, 1, status=MessageStatus.DELIVERED, provider="twilio", recipient="34666000111")[0]
    stop = DeliveryEvent(
        type="unsubscribed",
        occurred_at=NOW,
        provider="twilio",
        provider_event_id="SMreply:reply",
        extra={"recipient": "34666000111", "channel": "sms", "keyword": "STOP"},
    )

    created = events_record(events=[stop])

    assert [e.message_id for e in created] == [latest.pk]
    assert older.pk != latest.pk
    assert list(BlacklistEntry.objects.values_list("type", "recipient")) == [("sms", "34666000111")]
    sending.refresh_from_db()
    assert sending.unsubscribed == 1


def test_a_delivered_event_does_not_blacklist(sent_sms):
    events_record(events=[event("delivered", sent_sms)])

    assert not BlacklistEntry.objects.exists()


def test_created_events_go_to_notifications_when_the_transaction_commits(
    sent_sms, monkeypatch, django_capture_on_commit_callbacks
):
    from messaging import events

    received = []
    monkeypatch.setattr(events, "notifications_create", lambda *, notices: received.append(notices))
    sent_sms.notification_url = "https://example.com/n?s=%s"
    sent_sms.save()

    with django_capture_on_commit_callbacks(execute=True):
        [created] = events_record(events=[event("delivered", sent_sms, provider_event_id="d")])
        events_record(events=[event("delivered", sent_sms, provider_event_id="d")])

    assert received == [
        [EventNotice(created.pk, sent_sms.account_id, "delivered", "https://example.com/n?s=%s", account_url="")]
    ]


def test_events_nobody_listens_to_queue_no_notification_work(sent_sms, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        events_record(events=[event("delivered", sent_sms, provider_event_id="d")])

    assert callbacks == []


def test_no_events_no_queries():
    with CaptureQueriesContext(connection) as captured:
        assert events_record(events=[]) == []
    assert len(captured) == 0


def test_status_changes_of_a_batch_are_written_by_one_update(account):
    sending = make_sending(account)
    messages = make_messages(sending, 300, status=MessageStatus.SENT)
    batch = [event("delivered" if m.pk % 2 else "undelivered", m, reason="r") for m in messages]

    with CaptureQueriesContext(connection) as captured:
        events_record(events=batch)

    prefixes = ("UPDATE MESSAGING_MESSAGE", 'UPDATE "MESSAGING_MESSAGE"')
    message_updates = [q for q in captured if q["sql"].lstrip().upper().startswith(prefixes)]
    # PostgreSQL: one UPDATE ... FROM unnest; SQLite: CASE updates in chunks its parameter limit allows.
    assert len(message_updates) == 1 if connection.vendor == "postgresql" else 0 < len(message_updates) <= 30
    assert Message.objects.filter(sending=sending, status=MessageStatus.SENT).count() == 0
    assert Message.objects.filter(sending=sending, error_reason="r").count() == 150


def test_a_mixed_batch_stores_each_event_with_its_own_fields(account):
    sending = make_sending(account, channel=Channel.MAILING)
    first, second, third = make_messages(sending, 3, status=MessageStatus.SENT)
    agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
    batch = [
        event("delivered", first, provider="gw", provider_event_id="d1", extra={"mnc": "01"}),
        event("opened", first, seconds=2, user_agent=agent),
        event("clicked", second, seconds=3, url="https://acme.test/offer"),
        event("hard_bounced", third, seconds=1, reason="mailbox unknown", provider="gw", provider_event_id="b3"),
    ]

    created = events_record(events=batch)

    stored = {(e.message_id, e.type): e for e in Event.objects.all()}
    assert {(e.message_id, e.type) for e in created} == set(stored)
    assert stored[first.pk, "delivered"].extra == {"mnc": "01"}
    assert stored[first.pk, "delivered"].provider_event_id == "d1"
    assert (stored[first.pk, "opened"].os, stored[first.pk, "opened"].is_mobile) == ("iOS", True)
    assert stored[first.pk, "opened"].provider_event_id is None
    assert stored[second.pk, "clicked"].url == "https://acme.test/offer"
    assert stored[third.pk, "hard_bounced"].extra == {"reason": "mailbox unknown"}
    assert [(e.pk, e.date) for e in created] == [(stored[e.message_id, e.type].pk, e.date) for e in created]
    third.refresh_from_db()
    assert (third.status, third.error_reason) == (MessageStatus.HARD_BOUNCED, "mailbox unknown")


def test_hard_bounces_make_a_definitive_blacklist_entry_and_unsubscribes_a_temporary_one(account):
    sending = make_sending(account, channel=Channel.MAILING)
    bounced, unsubscribed = make_messages(sending, 2, status=MessageStatus.SENT)

    events_record(events=[event("hard_bounced", bounced), event("unsubscribed", unsubscribed)])

    entries = dict(BlacklistEntry.objects.values_list("recipient", "is_definitive"))
    assert entries == {bounced.recipient: True, unsubscribed.recipient: False}
