"""dispatch_due writes each batch back on a write-behind thread while the next batch is sent
(committed rows, so the writer's own connection sees the claims)."""

import threading

import pytest
from django.db import connection
from django.test.utils import override_settings

from campaigns.models import SendingStatus
from messaging import dispatch
from messaging.dispatch import dispatch_due
from messaging.models import Event, Message, MessageStatus
from tests.messaging.pipeline_factories import make_messages, make_sending

pytestmark = pytest.mark.django_db(transaction=True)


def backends_on_this_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.fixture
def write_back_threads(monkeypatch):
    names: list[str] = []
    real_write_back = dispatch._write_back

    def recording_write_back(**kwargs):
        names.append(threading.current_thread().name)
        return real_write_back(**kwargs)

    monkeypatch.setattr(dispatch, "_write_back", recording_write_back)
    return names


def test_batches_are_written_back_behind_the_sending_and_every_message_counts_once(account, write_back_threads):
    sending = make_sending(account)
    make_messages(sending, 25)
    before = backends_on_this_database()

    assert dispatch_due(limit=10) == 25

    # Full claims are written behind; the last, short one (nothing left to overlap with) here.
    behind, here = write_back_threads[:2], write_back_threads[2:]
    assert all(name.startswith("dispatch-write-back") for name in behind)
    assert here == [threading.current_thread().name]
    assert Message.objects.filter(sending=sending, status=MessageStatus.SENT).count() == 25
    assert Event.objects.filter(sending=sending, type="sent").count() == 25
    sending.refresh_from_db()
    assert (sending.sent, sending.processed, sending.status) == (25, 25, SendingStatus.FINISHED)
    # The writer's connection closed with its thread.
    assert backends_on_this_database() == before


def test_a_run_of_one_short_batch_writes_it_back_itself(account, write_back_threads):
    make_messages(make_sending(account), 3)
    before = backends_on_this_database()

    assert dispatch_due(limit=10) == 3

    assert write_back_threads == [threading.current_thread().name]
    assert backends_on_this_database() == before


def test_write_behind_can_be_turned_off(account, write_back_threads):
    make_messages(make_sending(account), 5)

    with override_settings(DISPATCH_WRITE_BEHIND=False):
        assert dispatch_due(limit=2) == 5

    assert write_back_threads == [threading.current_thread().name] * 3


def test_a_failed_write_back_surfaces_from_dispatch_due_and_leaves_the_batch_in_flight(account, monkeypatch):
    make_messages(make_sending(account), 4)

    def broken_write_back(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(dispatch, "_write_back", broken_write_back)
    with pytest.raises(RuntimeError, match="database went away"):
        dispatch_due(limit=2)  # full claims: written behind, the error comes from the writer thread

    # Handed to the provider but not written back: the reconciler's to settle, never resent.
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.IN_FLIGHT}
