"""Message keeps its references sound without per-row foreign-key triggers (messaging migration
0004): deletes through the ORM cascade or set NULL as before, the database itself refuses or
repairs deletes made in SQL, and a contact deleted while its fan-out chunk is being written ends
with no dangling reference. Also: a chunk streamed in several batches and COPY slices writes each
recipient once."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from accounts.models import Account
from campaigns import fanout
from campaigns.fanout import fanout_chunk_run
from campaigns.models import FanoutChunk, Sending
from campaigns.services import sms_group_send
from contacts.models import Contact, Group, Membership
from contacts.services import contact_delete
from messaging.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch) -> None:
    """No django-q2 cluster runs in tests: the chunk tasks are run by hand."""
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda *args, **kwargs: None)


@pytest.fixture
def members(account) -> Group:
    group = Group.objects.create(account=account, name="Members")
    contacts = Contact.objects.bulk_create(
        Contact(account=account, phone=f"3466600{index:04d}", country_iso="ES", name=f"n{index}") for index in range(9)
    )
    Membership.objects.bulk_create(Membership(contact=contact, group=group) for contact in contacts)
    return group


def send_and_run(account: Account, group: Group) -> Sending:
    sending = sms_group_send(account=account, group_ids=[group.pk], message="Hola {name}", sender="SHOP")
    for chunk_id in FanoutChunk.objects.filter(sending=sending).values_list("id", flat=True):
        fanout_chunk_run(chunk_id)
    return sending


def lone_message(account: Account) -> Message:
    """A message whose contact has nothing else pointing at it (no group, no other message)."""
    contact = Contact.objects.create(account=account, phone="34666999000")
    sending = Sending.objects.create(account=account, channel="sms")
    return Message.objects.create(
        public_id="LONE000000001",
        account=account,
        sending=sending,
        contact=contact,
        channel="sms",
        sender="SHOP",
        recipient=contact.phone,
        body="Hola",
        due_at=timezone.now(),
    )


def test_a_chunk_streamed_in_several_batches_and_copy_slices_writes_each_member_once(account, members, monkeypatch):
    monkeypatch.setattr(fanout, "BATCH_SIZE", 4)
    monkeypatch.setattr(fanout, "COPY_SLICE", 3)
    sending = send_and_run(account, members)
    messages = list(Message.objects.filter(sending=sending).values_list("recipient", "body", "public_id"))
    assert sorted(recipient for recipient, _body, _id in messages) == [f"3466600{index:04d}" for index in range(9)]
    assert {body for _recipient, body, _id in messages} == {f"Hola n{index}" for index in range(9)}
    assert len({public_id for _recipient, _body, public_id in messages}) == 9
    sending.refresh_from_db()
    assert sending.total == 9


def test_deleting_a_contact_keeps_its_messages_without_the_contact(account, members):
    sending = send_and_run(account, members)
    contact = Contact.objects.get(phone="34666000003")
    contact_delete(contact=contact)
    message = Message.objects.get(sending=sending, recipient="34666000003")
    assert message.contact_id is None


def test_a_contact_deleted_in_sql_also_leaves_its_messages_without_the_contact(account):
    message = lone_message(account)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM contacts_contact WHERE id = %s", [message.contact_id])
    message.refresh_from_db()
    assert message.contact_id is None


def test_deleting_a_sending_or_an_account_deletes_their_messages(account, members):
    sending = send_and_run(account, members)
    sending.delete()
    assert not Message.objects.filter(account=account).exists()

    tenant = Account.objects.create(name="Leaving")
    message = lone_message(tenant)
    tenant.delete()
    assert not Message.objects.filter(pk=message.pk).exists()


@pytest.mark.parametrize("table", ["campaigns_sending", "accounts_account"])
def test_the_database_refuses_to_delete_a_sending_or_account_that_messages_still_reference(account, table):
    tenant = Account.objects.create(name="Referenced")
    sending = Sending.objects.create(account=account, channel="sms")
    message = Message.objects.create(
        public_id="REF0000000001", account=tenant, sending=sending, channel="sms", sender="SHOP",
        recipient="34666999001", body="Hola", due_at=timezone.now(),
    )  # fmt: skip
    referenced = sending.pk if table == "campaigns_sending" else tenant.pk
    with (
        pytest.raises(IntegrityError, match="still have messages"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [referenced])
    assert Message.objects.filter(pk=message.pk).exists()


def _wait_for_a_lock_wait(seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            # Activity is read once per transaction unless the snapshot is cleared (the caller is
            # inside the chunk's transaction).
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_contact_deleted_while_its_chunk_is_written_leaves_no_dangling_reference(account, members, monkeypatch):
    sending = sms_group_send(account=account, group_ids=[members.pk], message="Hola {name}", sender="SHOP")
    (chunk_id,) = FanoutChunk.objects.filter(sending=sending).values_list("id", flat=True)
    doomed = Contact.objects.get(phone="34666000004")
    deleted = threading.Event()

    def delete_contact() -> None:
        try:
            contact_delete(contact=Contact.objects.get(pk=doomed.pk))
            deleted.set()
        finally:
            connections["default"].close()

    deleter = threading.Thread(target=delete_contact)
    debit = fanout.account_debit

    def debit_while_the_contact_is_deleted(**kwargs) -> bool:
        # The chunk has read and written its messages and not committed yet.
        deleter.start()
        assert _wait_for_a_lock_wait(), "the contact's DELETE should wait for the chunk's commit"
        assert not deleted.is_set()
        return debit(**kwargs)

    monkeypatch.setattr(fanout, "account_debit", debit_while_the_contact_is_deleted)
    totals = fanout_chunk_run(chunk_id)
    deleter.join(timeout=10)

    assert totals is not None and totals.messages == 9
    assert deleted.is_set()
    assert not Contact.objects.filter(pk=doomed.pk).exists()
    message = Message.objects.get(sending=sending, recipient="34666000004")
    assert message.contact_id is None
    assert Message.objects.filter(sending=sending, contact__isnull=False).count() == 8
    account.refresh_from_db()
    assert account.balance < Decimal("100")


@pytest.mark.django_db(transaction=True)
def test_a_chunk_started_while_a_contact_delete_is_uncommitted_waits_and_skips_that_contact(account, members):
    sending = sms_group_send(account=account, group_ids=[members.pk], message="Hola {name}", sender="SHOP")
    (chunk_id,) = FanoutChunk.objects.filter(sending=sending).values_list("id", flat=True)
    doomed = Contact.objects.get(phone="34666000002")
    deleted_uncommitted, release = threading.Event(), threading.Event()
    results: list = []

    def delete_contact() -> None:
        try:
            with transaction.atomic():
                contact_delete(contact=Contact.objects.get(pk=doomed.pk))
                deleted_uncommitted.set()
                release.wait(timeout=10)
        finally:
            connections["default"].close()

    def run_chunk() -> None:
        try:
            results.append(fanout_chunk_run(chunk_id))
        finally:
            connections["default"].close()

    deleter = threading.Thread(target=delete_contact)
    deleter.start()
    assert deleted_uncommitted.wait(timeout=10)
    runner = threading.Thread(target=run_chunk)
    runner.start()
    try:
        assert _wait_for_a_lock_wait(), "the chunk should wait for the contact delete to commit"
        assert not results
    finally:
        release.set()
        deleter.join(timeout=10)
        runner.join(timeout=10)

    assert results and results[0].messages == 8
    assert not Message.objects.filter(sending=sending, recipient="34666000002").exists()
    assert Message.objects.filter(sending=sending, contact__isnull=False).count() == 8
