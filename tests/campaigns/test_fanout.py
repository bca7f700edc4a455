"""Group sends: the Sending and its fan-out chunks, chunk tasks that write the right messages
(blacklisted and address-less contacts excluded, bodies rendered, priced, debited) exactly once
however often they run, on the COPY path and the portable bulk_create path."""

import re
from decimal import Decimal

import pytest

from campaigns import fanout, outbox
from campaigns.fanout import fanout_chunk_run, fanout_resume
from campaigns.models import FanoutChunk, FanoutChunkStatus, Sending
from campaigns.outbox import public_ids_generate
from campaigns.services import SendError, mailing_group_send, sms_group_send
from contacts.models import Contact, Group, Membership
from messaging.models import Message, MessageStatus
from tests.campaigns.conftest import ES_PRICE, blacklist
from tracking.links import unsubscribe_token_read

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    """The django-q2 tasks enqueued (no cluster runs in tests): (function path, chunk id)."""
    import django_q.tasks

    calls: list[tuple] = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: calls.append((func, *args)))
    return calls


@pytest.fixture
def audience(account) -> Group:
    """25 contacts in a group: 23 with a phone, 2 without; one blacklisted; plus a non-member."""
    group = Group.objects.create(account=account, name="Customers")
    contacts = [
        Contact(
            account=account,
            phone=f"346660000{index:02d}",
            country_iso="ES",
            name=f"name{index}",
            email=f"c{index}@example.com",
            custom_fields={"city": f"City{index}"},
        )
        for index in range(23)
    ]
    contacts += [Contact(account=account, email=f"nophone{index}@example.com", name="x") for index in range(2)]
    contacts = Contact.objects.bulk_create(contacts)
    Membership.objects.bulk_create(Membership(contact=c, group=group) for c in contacts)
    Contact.objects.create(account=account, phone="34666999999", name="outsider")
    blacklist(account, "sms", "34666000005")
    return group


def run_all(sending: Sending) -> None:
    for chunk_id in FanoutChunk.objects.filter(sending=sending).values_list("id", flat=True):
        fanout_chunk_run(chunk_id)


def group_sms(account, group, **options) -> Sending:
    options.setdefault("message", "Hola {name|capitalize} de {city}")
    options.setdefault("sender", "SHOP")
    return sms_group_send(account=account, group_ids=[group.pk], **options)


def test_public_ids_are_13_unique_characters():
    ids = public_ids_generate(20_000)
    assert len(set(ids)) == 20_000
    assert all(re.fullmatch(r"[0-9A-V]{13}", i) for i in ids)
    assert public_ids_generate(0) == []


def test_public_ids_of_a_later_batch_sort_after_an_earlier_one():
    import time

    earlier = public_ids_generate(100)
    time.sleep(0.002)
    later = public_ids_generate(100)
    assert max(earlier) < min(later)


def test_group_send_plans_chunks_by_contact_id_range_and_enqueues_them_on_commit(
    account, audience, enqueued, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(fanout, "CHUNK_SIZE", 10)
    with django_capture_on_commit_callbacks(execute=True):
        sending = sms_group_send(account=account, group_ids=[audience.pk], message="Hi", sender="SHOP")
    chunks = list(FanoutChunk.objects.filter(sending=sending).order_by("after_contact_id"))
    # 23 members have a phone: chunks of 10, 10 and 3, contiguous and disjoint.
    member_ids = sorted(Contact.objects.filter(groups=audience, phone__isnull=False).values_list("id", flat=True))
    assert [(c.after_contact_id, c.last_contact_id) for c in chunks] == [
        (0, member_ids[9]),
        (member_ids[9], member_ids[19]),
        (member_ids[19], member_ids[22]),
    ]
    assert enqueued == [("campaigns.fanout.fanout_chunk_run", c.pk) for c in chunks]
    assert sending.options["fanout"]["chunks"] == 3
    assert not Message.objects.filter(sending=sending).exists()  # the tasks write them


def test_chunk_tasks_write_one_message_per_member_with_a_phone_except_the_blacklisted(account, audience, enqueued):
    sending = group_sms(account, audience)
    run_all(sending)

    messages = Message.objects.filter(sending=sending)
    recipients = set(messages.values_list("recipient", flat=True))
    assert len(recipients) == messages.count() == 22
    assert "34666000005" not in recipients  # blacklisted
    assert "34666999999" not in recipients  # not in the group
    first = messages.get(recipient="34666000001")
    assert first.body == "Hola Name1 de City1"
    assert (first.sender, first.encoding, first.parts, first.status) == ("SHOP", "gsm", 1, MessageStatus.QUEUED)
    assert first.contact.phone == "34666000001"
    assert first.cost == ES_PRICE
    assert len(first.public_id) == 13


def test_chunk_totals_reach_the_sending_and_the_balance(account, audience, enqueued):
    sending = group_sms(account, audience)
    run_all(sending)
    sending.refresh_from_db()
    assert (sending.total, sending.total_sms_parts, sending.cost) == (22, 22, 22 * ES_PRICE)
    account.refresh_from_db()
    assert account.balance == Decimal("100") - 22 * ES_PRICE
    chunk = FanoutChunk.objects.get(sending=sending)
    assert (chunk.status, chunk.messages, chunk.skipped, chunk.sms_parts) == ("done", 22, 0, 22)
    assert chunk.finished_at is not None


def test_running_a_chunk_again_writes_nothing_twice(account, audience, enqueued, monkeypatch):
    monkeypatch.setattr(fanout, "CHUNK_SIZE", 10)
    sending = group_sms(account, audience)
    run_all(sending)
    balance = Account_balance(account)
    run_all(sending)
    fanout_chunk_run(FanoutChunk.objects.filter(sending=sending).first().pk)

    assert Message.objects.filter(sending=sending).count() == 22
    sending.refresh_from_db()
    assert sending.total == 22
    assert Account_balance(account) == balance


def Account_balance(account) -> Decimal:
    account.refresh_from_db()
    return account.balance


def test_a_chunk_that_fails_half_way_leaves_nothing_and_runs_again_cleanly(account, audience, enqueued, monkeypatch):
    sending = group_sms(account, audience)
    chunk = FanoutChunk.objects.get(sending=sending)
    real_debit = fanout.account_debit

    def crash(**kwargs):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(fanout, "account_debit", crash)
    with pytest.raises(RuntimeError):
        fanout_chunk_run(chunk.pk)
    assert not Message.objects.filter(sending=sending).exists()
    chunk.refresh_from_db()
    assert chunk.status == FanoutChunkStatus.PENDING

    monkeypatch.setattr(fanout, "account_debit", real_debit)
    fanout_chunk_run(chunk.pk)
    assert Message.objects.filter(sending=sending).count() == 22


def test_resume_enqueues_only_the_pending_chunks(
    account, audience, enqueued, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(fanout, "CHUNK_SIZE", 10)
    sending = group_sms(account, audience)
    first, *others = FanoutChunk.objects.filter(sending=sending).order_by("id")
    fanout_chunk_run(first.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert fanout_resume(sending=sending) == 2
    assert enqueued == [("campaigns.fanout.fanout_chunk_run", chunk.pk) for chunk in others]


def test_a_chunk_the_balance_cannot_pay_fails_and_writes_nothing(account, audience, enqueued):
    sending = group_sms(account, audience)
    account.balance = Decimal("0.05")
    account.save()
    assert fanout_chunk_run(FanoutChunk.objects.get(sending=sending).pk) is None
    chunk = FanoutChunk.objects.get(sending=sending)
    assert (chunk.status, chunk.error) == (FanoutChunkStatus.FAILED, "Not enough credits")
    assert not Message.objects.filter(sending=sending).exists()
    assert Account_balance(account) == Decimal("0.05")


def test_a_group_send_the_balance_obviously_cannot_pay_is_refused_111(
    account, audience, enqueued, django_capture_on_commit_callbacks
):
    account.balance = Decimal("0.01")
    account.save()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(SendError) as refused:
        group_sms(account, audience)
    assert refused.value.code == 111
    assert not Sending.objects.filter(account=account).exists()
    assert not FanoutChunk.objects.exists()
    assert enqueued == []


def test_recipients_whose_message_is_too_long_are_skipped_and_counted(account, audience, enqueued):
    Contact.objects.filter(phone="34666000001").update(name="x" * 200)
    sending = group_sms(account, audience, message="Hi {name}")
    run_all(sending)
    chunk = FanoutChunk.objects.get(sending=sending)
    assert (chunk.messages, chunk.skipped) == (21, 1)
    assert not Message.objects.filter(sending=sending, recipient="34666000001").exists()


def test_scheduled_group_send_writes_scheduled_messages(account, audience, enqueued):
    from datetime import UTC, datetime

    when = datetime(2099, 1, 1, tzinfo=UTC)
    sending = group_sms(account, audience, schedule_at=when, campaign_name="Later")
    run_all(sending)
    statuses = set(Message.objects.filter(sending=sending).values_list("status", "due_at", "scheduled_at"))
    assert statuses == {(MessageStatus.SCHEDULED, when, when)}
    assert sending.campaign.name == "Later"


def test_group_send_validates_like_the_api(account, audience, enqueued, other_user):
    with pytest.raises(SendError) as refused:
        group_sms(account, audience, sender="WAY TOO LONG SENDER")
    assert refused.value.code == 107
    other_group = Group.objects.create(account=other_user.account, name="theirs")
    with pytest.raises(SendError) as refused:
        sms_group_send(account=account, group_ids=[other_group.pk], message="Hi", sender="SHOP")
    assert refused.value.code == 422
    assert not Sending.objects.filter(account=account).exists()


def test_the_portable_path_writes_the_same_messages(account, audience, enqueued, monkeypatch):
    copy_sending = group_sms(account, audience)
    run_all(copy_sending)
    monkeypatch.setattr(outbox, "use_copy", lambda: False)  # the bulk_create sink of SQLite
    orm_sending = group_sms(account, audience)
    run_all(orm_sending)

    def rows(sending):
        return sorted(
            Message.objects.filter(sending=sending).values_list(
                "recipient", "body", "parts", "cost", "status", "contact_id", "options", "encoding", "sender"
            )
        )

    assert rows(copy_sending) == rows(orm_sending)
    assert len(rows(orm_sending)) == 22


def test_mailing_group_send_renders_escapes_and_adds_unsubscribe_headers(account, audience, enqueued):
    from accounts.services import verified_sender_add

    verified_sender_add(account=account, email="news@example.com")
    Contact.objects.filter(email="c1@example.com").update(name="<Ana>")
    sending = mailing_group_send(
        account=account,
        group_ids=[audience.pk],
        from_email="news@example.com",
        reply_to="news@example.com",
        subject="Hola {name}",
        body='<p>{name}</p><a href="[unsubscribe_link]">baja</a>',
        track_opens=False,
    )
    run_all(sending)
    messages = Message.objects.filter(sending=sending)
    assert messages.count() == 25  # every member has an email; the sms blacklist does not apply
    ana = messages.get(recipient="c1@example.com")
    assert ana.subject == "Hola <Ana>"
    unsubscribe = ana.options["headers"]["List-Unsubscribe"][1:-1]
    assert ana.body == f'<p>&lt;Ana&gt;</p><a href="{unsubscribe}">baja</a>'
    assert ana.options["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_token_read(unsubscribe.rsplit("/", 1)[1]) == ana.public_id
    assert ana.cost == 0


def test_group_send_to_every_contact_when_no_group_is_given(account, audience, enqueued):
    sending = sms_group_send(account=account, group_ids=None, message="Hi", sender="SHOP")
    run_all(sending)
    assert Message.objects.filter(sending=sending).count() == 23  # 22 members + the outsider


def test_cancelled_sending_chunks_write_nothing(account, audience, enqueued):
    sending = group_sms(account, audience)
    Sending.objects.filter(pk=sending.pk).update(status="CANCELLED")
    run_all(sending)
    assert not Message.objects.filter(sending=sending).exists()
    assert FanoutChunk.objects.get(sending=sending).status == FanoutChunkStatus.DONE
