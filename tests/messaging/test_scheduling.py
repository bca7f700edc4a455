from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import SendingStatus
from messaging.dispatch import dispatch_due
from messaging.models import Event, Message, MessageStatus
from messaging.scheduling import (
    available_times_parse,
    message_initial_state,
    scheduled_release,
    window_is_open,
    window_next_start,
)
from messaging.services import sending_cancel, sending_pause, sending_resume
from tests.messaging.pipeline_factories import make_messages, make_sending

# 2024-01-01 was a Monday (ISO day 1).
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)
SPEC_SAMPLE = [{"day": 1, "from": "09:00", "to": "21:00"}]


def at(day: int, clock: str) -> datetime:
    hours, minutes = map(int, clock.split(":"))
    return MONDAY + timedelta(days=day - 1, hours=hours, minutes=minutes)


# -- windows (pure) ------------------------------------------------------------------------------


def test_the_spec_sample_window_is_monday_nine_to_twenty_one_utc():
    windows = available_times_parse(SPEC_SAMPLE)

    assert window_is_open(windows, at(1, "09:00"))
    assert window_is_open(windows, at(1, "20:59"))
    assert not window_is_open(windows, at(1, "21:00"))
    assert not window_is_open(windows, at(1, "08:59"))
    assert not window_is_open(windows, at(2, "10:00"))


def test_outside_the_window_waits_for_its_next_start():
    windows = available_times_parse(SPEC_SAMPLE)

    assert window_next_start(windows, at(1, "07:00")) == at(1, "09:00")
    assert window_next_start(windows, at(1, "22:00")) == at(1, "09:00") + timedelta(days=7)
    assert window_next_start(windows, at(3, "12:00")) == at(1, "09:00") + timedelta(days=7)
    assert window_next_start(windows, at(1, "10:00")) == at(1, "10:00")


def test_day_seven_is_sunday_and_a_window_without_day_applies_every_day():
    sunday = available_times_parse([{"day": 7, "from": "10:00", "to": "12:00"}])
    daily = available_times_parse([{"from": "10:00", "to": "12:00"}])

    assert window_next_start(sunday, at(1, "11:00")) == at(7, "10:00")
    assert window_next_start(daily, at(3, "13:00")) == at(4, "10:00")


def test_the_earliest_of_several_windows_wins():
    windows = available_times_parse(
        [{"day": 2, "from": "18:00", "to": "20:00"}, {"day": 2, "from": "08:00", "to": "09:00"}]
    )

    assert window_next_start(windows, at(1, "12:00")) == at(2, "08:00")
    assert window_next_start(windows, at(2, "12:00")) == at(2, "18:00")


def test_an_overnight_window_ends_the_next_day():
    windows = available_times_parse([{"day": 5, "from": "22:00", "to": "06:00"}])

    assert window_is_open(windows, at(5, "23:00"))
    assert window_is_open(windows, at(6, "05:59"))
    assert not window_is_open(windows, at(6, "06:00"))


def test_a_window_may_end_at_midnight():
    windows = available_times_parse([{"day": 1, "from": "20:00", "to": "24:00"}])

    assert window_is_open(windows, at(1, "23:59"))
    assert not window_is_open(windows, at(2, "00:00"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mon", "The availableTimes must be an array."),
        (["x"], "The availableTimes.0 must be an object."),
        ([{"day": 0, "from": "09:00", "to": "10:00"}], "The availableTimes.0.day must be between 1 and 7."),
        ([{"day": 8, "from": "09:00", "to": "10:00"}], "The availableTimes.0.day must be between 1 and 7."),
        ([{"day": "x", "from": "09:00", "to": "10:00"}], "The availableTimes.0.day must be an integer."),
        ([{"from": "9:00", "to": "10:00"}], "The availableTimes.0.from must be a time in HH:MM format."),
        ([{"from": "09:00"}], "The availableTimes.0.to field is required."),
        ([{"from": "24:00", "to": "10:00"}], "The availableTimes.0.from must be a time between 00:00 and 23:59."),
        ([{"from": "09:00", "to": "09:00"}], "The availableTimes.0.to must be different from availableTimes.0.from."),
    ],
)
def test_bad_available_times_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        available_times_parse(raw)


def test_initial_state_of_a_message():
    now = at(1, "07:00")

    assert message_initial_state(now=now) == (MessageStatus.QUEUED, now)
    assert message_initial_state(now=now, scheduled_at=at(1, "08:00")) == (MessageStatus.SCHEDULED, at(1, "08:00"))
    assert message_initial_state(now=now, available_times=SPEC_SAMPLE) == (MessageStatus.SCHEDULED, at(1, "09:00"))
    assert message_initial_state(now=at(1, "10:00"), available_times=SPEC_SAMPLE) == (
        MessageStatus.QUEUED, at(1, "10:00"),
    )  # fmt: skip
    # Scheduled for after the window: the next window after the schedule.
    assert message_initial_state(now=now, scheduled_at=at(1, "22:00"), available_times=SPEC_SAMPLE) == (
        MessageStatus.SCHEDULED, at(1, "09:00") + timedelta(days=7),
    )  # fmt: skip
    # Expiring before the window opens: due at its expiry, so it is expired on time.
    assert message_initial_state(now=now, expires_at=at(1, "08:00"), available_times=SPEC_SAMPLE) == (
        MessageStatus.SCHEDULED, at(1, "08:00"),
    )  # fmt: skip


# -- release -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_due_scheduled_messages_are_released_and_future_ones_wait(account):
    sending = make_sending(account)
    now = timezone.now()
    due = make_messages(sending, 2, status=MessageStatus.SCHEDULED, due_at=now - timedelta(seconds=1))
    future = make_messages(sending, 1, status=MessageStatus.SCHEDULED, due_at=now + timedelta(minutes=5))[0]

    assert scheduled_release(now=now) == {"queued": 2}

    assert {m.status for m in Message.objects.filter(pk__in=[m.pk for m in due])} == {MessageStatus.QUEUED}
    assert Message.objects.get(pk=future.pk).status == MessageStatus.SCHEDULED


@pytest.mark.django_db
def test_a_message_outside_its_window_waits_for_the_next_window(account):
    sending = make_sending(account, options={"available_times": SPEC_SAMPLE})
    now = at(1, "22:00")
    message = make_messages(sending, 1, status=MessageStatus.SCHEDULED, due_at=at(1, "21:30"))[0]

    assert scheduled_release(now=now) == {"deferred": 1}
    message.refresh_from_db()
    assert (message.status, message.due_at) == (MessageStatus.SCHEDULED, at(1, "09:00") + timedelta(days=7))

    assert scheduled_release(now=at(1, "09:00") + timedelta(days=7)) == {"queued": 1}
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED


@pytest.mark.django_db
def test_a_deferred_message_is_not_deferred_past_its_expiry(account):
    sending = make_sending(account, options={"available_times": SPEC_SAMPLE})
    expires_at = at(2, "12:00")
    message = make_messages(sending, 1, status=MessageStatus.SCHEDULED, due_at=at(1, "21:30"), expires_at=expires_at)[0]

    scheduled_release(now=at(1, "22:00"))
    message.refresh_from_db()
    assert message.due_at == expires_at

    assert scheduled_release(now=expires_at) == {"expired": 1}


@pytest.mark.django_db
def test_an_expired_scheduled_message_gets_status_expired_and_an_event(account):
    sending = make_sending(account)
    now = timezone.now()
    message = make_messages(
        sending, 1, status=MessageStatus.SCHEDULED, due_at=now - timedelta(minutes=1), expires_at=now
    )[0]

    assert scheduled_release(now=now) == {"expired": 1}

    message.refresh_from_db()
    assert (message.status, message.final_at) == (MessageStatus.EXPIRED, now)
    assert Event.objects.get(message=message).type == "expired"
    sending.refresh_from_db()
    assert (sending.expired, sending.processed, sending.status) == (1, 1, SendingStatus.FINISHED)


@pytest.mark.django_db
def test_a_paused_sending_keeps_its_messages_except_expired_ones(account):
    sending = make_sending(account, status=SendingStatus.PAUSED)
    now = timezone.now()
    waiting = make_messages(sending, 1, status=MessageStatus.SCHEDULED, due_at=now - timedelta(minutes=1))[0]
    expiring = make_messages(
        sending, 1, status=MessageStatus.SCHEDULED, due_at=now - timedelta(minutes=1), expires_at=now
    )[0]

    assert scheduled_release(now=now) == {"expired": 1}

    assert Message.objects.get(pk=waiting.pk).status == MessageStatus.SCHEDULED
    assert Message.objects.get(pk=expiring.pk).status == MessageStatus.EXPIRED
    sending.refresh_from_db()
    assert sending.status == SendingStatus.PAUSED


@pytest.mark.django_db
def test_release_works_in_batches(account):
    sending = make_sending(account)
    make_messages(sending, 7, status=MessageStatus.SCHEDULED)

    assert scheduled_release(limit=3) == {"queued": 7}


# -- pause, resume, cancel ------------------------------------------------------------------------


@pytest.mark.django_db
def test_pause_stops_dispatch_and_resume_lets_it_go_on(account, django_capture_on_commit_callbacks, monkeypatch):
    kicks = []
    monkeypatch.setattr("messaging.tasks.kick_dispatch", lambda: kicks.append(1))
    sending = make_sending(account, status=SendingStatus.SENDING)
    make_messages(sending, 3)

    sending = sending_pause(sending=sending)
    assert sending.status == SendingStatus.PAUSED
    assert set(Message.objects.filter(sending=sending).values_list("status", flat=True)) == {MessageStatus.SCHEDULED}
    assert dispatch_due() == 0
    assert scheduled_release() == {}

    sending = sending_resume(sending=sending)
    assert sending.status == SendingStatus.SENDING
    assert "paused_from" not in sending.options
    assert set(Message.objects.filter(sending=sending).values_list("status", flat=True)) == {MessageStatus.QUEUED}
    assert kicks == [1]
    assert dispatch_due() == 3
    sending.refresh_from_db()
    assert sending.status == SendingStatus.FINISHED


@pytest.mark.django_db
def test_pause_is_idempotent_and_resume_needs_a_paused_sending(account):
    sending = make_sending(account)
    make_messages(sending, 1)

    assert sending_pause(sending=sending_pause(sending=sending)).status == SendingStatus.PAUSED
    resumed = sending_resume(sending=sending)
    assert resumed.status == SendingStatus.PENDING
    with pytest.raises(ValidationError, match=r"A PENDING sending cannot be resumed\."):
        sending_resume(sending=resumed)


@pytest.mark.django_db
def test_a_finished_sending_cannot_be_paused_or_cancelled(account):
    sending = make_sending(account, status=SendingStatus.FINISHED)

    with pytest.raises(ValidationError, match=r"A FINISHED sending cannot be paused\."):
        sending_pause(sending=sending)
    with pytest.raises(ValidationError, match=r"A FINISHED sending cannot be cancelled\."):
        sending_cancel(sending=sending)


@pytest.mark.django_db
def test_resuming_a_sending_whose_last_messages_settled_while_paused_finishes_it(account):
    sending = make_sending(account, status=SendingStatus.SENDING)
    make_messages(sending, 2, status=MessageStatus.IN_FLIGHT)
    sending = sending_pause(sending=sending)
    sending.__class__.objects.filter(pk=sending.pk).update(processed=2)

    assert sending_resume(sending=sending).status == SendingStatus.FINISHED


@pytest.mark.django_db
def test_cancel_cancels_what_was_not_handed_to_a_provider(account):
    sending = make_sending(account, status=SendingStatus.SENDING)
    queued = make_messages(sending, 2)
    scheduled = make_messages(sending, 1, status=MessageStatus.SCHEDULED)
    in_flight = make_messages(sending, 1, status=MessageStatus.IN_FLIGHT)
    sent = make_messages(sending, 1, status=MessageStatus.SENT)

    sending = sending_cancel(sending=sending)

    assert (sending.status, sending.finished_at is not None) == (SendingStatus.CANCELLED, True)
    status_of = dict(Message.objects.filter(sending=sending).values_list("pk", "status"))
    assert {status_of[m.pk] for m in queued + scheduled} == {MessageStatus.CANCELLED}
    assert status_of[in_flight[0].pk] == MessageStatus.IN_FLIGHT
    assert status_of[sent[0].pk] == MessageStatus.SENT
    assert dispatch_due() == 0
    assert sending_cancel(sending=sending).status == SendingStatus.CANCELLED
