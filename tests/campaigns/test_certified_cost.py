"""Certified messages cost more ("Certified messages have additional cost", spec `certified` of
POST /sms, /mailing and /landingsms): settings.CERTIFIED_MESSAGE_PRICE per certified message, added
to its cost and its Sending's, paid from the balance through the same debit and ledger as SMS; 402 /
111 and nothing queued when the balance cannot pay it; refunded when a scheduled message is cancelled."""

from decimal import Decimal

import pytest

from accounts.models import Account, BalanceEntry, LedgerReason
from accounts.services import verified_sender_add
from campaigns import outbox
from campaigns.fanout import fanout_chunk_run
from campaigns.models import FanoutChunk, FanoutChunkStatus, Sending
from campaigns.pricing import certification_fee
from campaigns.services import SendError, mailing_group_send, sms_group_send
from contacts.models import Contact, Group, Membership
from messaging.models import Message, MessageStatus
from tests.campaigns.conftest import (
    ES_PRICE,
    MAILING_SAMPLE_REQUEST,
    error_of,
    nothing_written,
    post_mailing,
    post_sms,
)

pytestmark = pytest.mark.django_db

FEE = Decimal("0.05000")
LATER = "20991111101010"
LONG_SMS = "x" * 200  # two GSM-7 parts


@pytest.fixture(autouse=True)
def _fee(settings) -> None:
    settings.CERTIFIED_MESSAGE_PRICE = FEE


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    """The django-q2 tasks enqueued (no cluster runs in tests)."""
    import django_q.tasks

    calls: list[tuple] = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: calls.append((func, *args)))
    return calls


@pytest.fixture
def group(account) -> Group:
    """Four Spanish contacts, each with a phone and an email."""
    group = Group.objects.create(account=account, name="Clients")
    contacts = Contact.objects.bulk_create(
        Contact(account=account, phone=f"3466600010{index}", country_iso="ES", email=f"g{index}@example.com")
        for index in range(4)
    )
    Membership.objects.bulk_create(Membership(contact=contact, group=group) for contact in contacts)
    verified_sender_add(account=account, email="news@example.com")
    return group


def balance(account: Account) -> Decimal:
    account.refresh_from_db()
    return account.balance


def set_balance(account: Account, amount: str | Decimal) -> None:
    Account.objects.filter(pk=account.pk).update(balance=Decimal(amount))


def debits(account: Account) -> list[Decimal]:
    return list(
        BalanceEntry.objects.filter(account=account, reason=LedgerReason.SENDING)
        .order_by("id")
        .values_list("amount", flat=True)
    )


def sms_post(client, **body):
    return post_sms(client, **{"to": ["34666555444"], "from": "T", "message": "Contract signed", **body})


def mail_post(client, mail_account, **body):
    verified_sender_add(account=mail_account, email="info@sample.com")
    verified_sender_add(account=mail_account, email="replyto@example.com")
    return post_mailing(client, **{**MAILING_SAMPLE_REQUEST, **body})


def run_chunks(sending: Sending) -> None:
    for chunk_id in FanoutChunk.objects.filter(sending=sending).values_list("id", flat=True):
        fanout_chunk_run(chunk_id)


def group_mail(account, group, **options) -> Sending:
    return mailing_group_send(
        account=account,
        group_ids=[group.pk],
        from_email="news@example.com",
        reply_to="news@example.com",
        subject="News",
        body="<p>Hello {name}</p>",
        **options,
    )


# ---------------------------------------------------------------------------------------------
# The fee


def test_the_fee_is_the_setting_for_a_certified_message_and_nothing_otherwise(settings):
    assert certification_fee(certified=True) == FEE
    assert certification_fee(certified=False) == 0
    settings.CERTIFIED_MESSAGE_PRICE = Decimal("0.123456")
    assert certification_fee(certified=True) == Decimal("0.12346")  # Message.cost keeps 5 decimals


# ---------------------------------------------------------------------------------------------
# POST /sms, /landingsms


def test_a_certified_sms_costs_its_parts_plus_the_fee_debited_with_one_ledger_entry(api_client, account):
    response = sms_post(api_client, to=["34666555444", "34666555333"], certified=True)

    assert response.status_code == 202, response.content
    messages = Message.objects.filter(account=account)
    assert {message.cost for message in messages} == {ES_PRICE + FEE}
    sending = Sending.objects.get(account=account)
    assert sending.cost == 2 * (ES_PRICE + FEE)
    assert balance(account) == Decimal("100") - 2 * (ES_PRICE + FEE)
    assert debits(account) == [-2 * (ES_PRICE + FEE)]


def test_the_fee_is_charged_once_per_message_not_per_part(api_client, account):
    sms_post(api_client, message=LONG_SMS, parts=2, certified=True)
    message = Message.objects.get(account=account)
    assert (message.parts, message.cost) == (2, 2 * ES_PRICE + FEE)


def test_an_sms_not_certified_costs_only_its_parts(api_client, account):
    sms_post(api_client)
    assert Message.objects.get(account=account).cost == ES_PRICE
    assert balance(account) == Decimal("100") - ES_PRICE


def test_the_fee_follows_the_setting(api_client, account, settings):
    settings.CERTIFIED_MESSAGE_PRICE = Decimal("0.2")
    sms_post(api_client, certified=True)
    assert Message.objects.get(account=account).cost == ES_PRICE + Decimal("0.2")


def test_a_certified_sms_the_balance_cannot_pay_with_its_fee_is_402_111_and_changes_nothing(api_client, account):
    set_balance(account, ES_PRICE)  # enough for the SMS, not for its certification
    response = sms_post(api_client, certified=True, campaignName="Contracts")

    assert error_of(response) == (402, 111)
    assert response.json()["error"]["description"] == "Not enough credits"
    assert nothing_written(account)
    assert not Contact.objects.filter(account=account).exists()
    assert balance(account) == ES_PRICE
    assert debits(account) == []
    # ... and the same balance pays the message uncertified, or certified with the exact amount.
    assert sms_post(api_client).status_code == 202
    set_balance(account, ES_PRICE + FEE)
    assert sms_post(api_client, certified=True).status_code == 202
    assert balance(account) == 0


def test_a_certified_landing_sms_pays_the_fee_too(api_client, account, settings):
    settings.PUBLIC_URL = "https://go.example.org"
    settings.SHORT_URL_BASE = ""
    body = {"message": "Sign {LAND_URL}", "templateBody": "<p>Contract</p>", "certified": True}
    response = api_client.post("/api/rest/landingsms", {"to": ["34666555444"], "from": "T", **body}, format="json")

    assert response.status_code == 202, response.content
    message = Message.objects.get(account=account)
    assert (message.certified, message.cost) == (True, ES_PRICE + FEE)
    assert balance(account) == Decimal("100") - ES_PRICE - FEE

    set_balance(account, ES_PRICE)
    response = api_client.post("/api/rest/landingsms", {"to": ["34666555333"], "from": "T", **body}, format="json")
    assert error_of(response) == (402, 111)
    assert Message.objects.filter(account=account).count() == 1


# ---------------------------------------------------------------------------------------------
# POST /mailing


def test_a_certified_email_costs_the_fee_debited_with_one_ledger_entry(api_client, account):
    response = mail_post(api_client, account, to=["a@example.com", "b@example.com"], certified=True)

    assert response.status_code == 202, response.content
    assert {message.cost for message in Message.objects.filter(account=account)} == {FEE}
    sending = Sending.objects.get(account=account)
    assert (sending.cost, sending.currency) == (2 * FEE, account.currency)
    assert balance(account) == Decimal("100") - 2 * FEE
    entry = BalanceEntry.objects.get(account=account, reason=LedgerReason.SENDING)
    assert (entry.amount, entry.sending_id) == (-2 * FEE, sending.pk)


def test_an_email_not_certified_stays_free_and_writes_no_ledger_entry(api_client, account):
    assert mail_post(api_client, account).status_code == 202
    assert Message.objects.get(account=account).cost == 0
    assert Sending.objects.get(account=account).cost == 0
    assert balance(account) == Decimal("100")
    assert debits(account) == []


def test_a_certified_email_the_balance_cannot_pay_is_402_111_and_changes_nothing(api_client, account):
    set_balance(account, "0.04")
    response = mail_post(api_client, account, certified=True, campaignName="Contracts")

    assert error_of(response) == (402, 111)
    assert nothing_written(account)
    assert not Contact.objects.filter(account=account).exists()
    assert balance(account) == Decimal("0.04")
    # An email without certification needs no balance at all.
    set_balance(account, "0")
    assert mail_post(api_client, account).status_code == 202


# ---------------------------------------------------------------------------------------------
# Group sends (fan-out chunks)


def test_a_certified_group_sms_prices_each_message_with_the_fee(account, group, enqueued):
    sending = sms_group_send(account=account, group_ids=[group.pk], message="Hi", sender="SHOP", certified=True)
    run_chunks(sending)

    messages = Message.objects.filter(sending=sending)
    assert messages.count() == 4
    assert {message.cost for message in messages} == {ES_PRICE + FEE}
    assert all(message.certified for message in messages)
    sending.refresh_from_db()
    assert sending.cost == 4 * (ES_PRICE + FEE)
    assert FanoutChunk.objects.get(sending=sending).cost == 4 * (ES_PRICE + FEE)
    assert balance(account) == Decimal("100") - 4 * (ES_PRICE + FEE)
    assert debits(account) == [-4 * (ES_PRICE + FEE)]


def test_a_group_sms_not_certified_pays_no_fee(account, group, enqueued):
    sending = sms_group_send(account=account, group_ids=[group.pk], message="Hi", sender="SHOP")
    run_chunks(sending)
    assert {message.cost for message in Message.objects.filter(sending=sending)} == {ES_PRICE}
    assert balance(account) == Decimal("100") - 4 * ES_PRICE


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "portable"])
def test_a_certified_group_email_costs_the_fee_per_message(account, group, enqueued, monkeypatch, copy):
    monkeypatch.setattr(outbox, "use_copy", lambda: copy)
    sending = group_mail(account, group, certified=True)
    run_chunks(sending)

    messages = Message.objects.filter(sending=sending)
    assert messages.count() == 4
    assert {message.cost for message in messages} == {FEE}
    sending.refresh_from_db()
    assert sending.cost == 4 * FEE
    assert balance(account) == Decimal("100") - 4 * FEE
    assert debits(account) == [-4 * FEE]


def test_a_group_email_not_certified_stays_free(account, group, enqueued):
    set_balance(account, "0")
    sending = group_mail(account, group)
    run_chunks(sending)
    assert {message.cost for message in Message.objects.filter(sending=sending)} == {Decimal(0)}
    assert balance(account) == 0
    assert debits(account) == []


def test_a_certified_group_sms_the_balance_cannot_pay_with_the_fee_is_refused_111_before_any_work(
    account, group, enqueued, django_capture_on_commit_callbacks
):
    set_balance(account, 4 * ES_PRICE)  # the parts, not the certification
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(SendError) as refused:
        sms_group_send(account=account, group_ids=[group.pk], message="Hi", sender="SHOP", certified=True)

    assert refused.value.code == 111
    assert not Sending.objects.filter(account=account).exists()
    assert not FanoutChunk.objects.exists()
    assert enqueued == []
    assert balance(account) == 4 * ES_PRICE


def test_a_certified_group_email_the_balance_cannot_pay_is_refused_111_before_any_work(
    account, group, enqueued, django_capture_on_commit_callbacks
):
    set_balance(account, 3 * FEE)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(SendError) as refused:
        group_mail(account, group, certified=True)

    assert refused.value.code == 111
    assert not Sending.objects.filter(account=account).exists()
    assert enqueued == []
    assert balance(account) == 3 * FEE


def test_a_certified_group_email_chunk_the_balance_no_longer_covers_fails_and_writes_nothing(account, group, enqueued):
    sending = group_mail(account, group, certified=True)
    set_balance(account, 3 * FEE)  # spent elsewhere between the send and its chunk
    run_chunks(sending)

    chunk = FanoutChunk.objects.get(sending=sending)
    assert (chunk.status, chunk.error) == (FanoutChunkStatus.FAILED, "Not enough credits")
    assert not Message.objects.filter(sending=sending).exists()
    assert balance(account) == 3 * FEE


# ---------------------------------------------------------------------------------------------
# Cancelling scheduled messages refunds the fee


def test_cancelling_a_scheduled_certified_sms_refunds_its_parts_and_fee(api_client, account):
    response = sms_post(api_client, to=["34666555444", "34666555333"], certified=True, scheduleDate=LATER)
    first = response.json()["result"][0]["id"]

    response = api_client.delete("/api/rest/scheduled", {"guid": [first]}, format="json")

    assert response.json() == {"result": True, "deleted": 1}
    assert balance(account) == Decimal("100") - (ES_PRICE + FEE)
    sending = Sending.objects.get(account=account)
    assert sending.cost == ES_PRICE + FEE
    refund = BalanceEntry.objects.get(account=account, reason=LedgerReason.SENDING_REFUND)
    assert (refund.amount, refund.sending_id) == (ES_PRICE + FEE, sending.pk)


def test_cancelling_a_scheduled_certified_email_refunds_the_fee(api_client, account):
    response = mail_post(api_client, account, to=["a@example.com", "b@example.com"], certified=True, scheduleDate=LATER)
    assert response.status_code == 202, response.content
    assert balance(account) == Decimal("100") - 2 * FEE

    assert api_client.delete("/api/rest/scheduled", {"type": "MAILING"}, format="json").json()["deleted"] == 2

    assert balance(account) == Decimal("100")
    sending = Sending.objects.get(account=account)
    assert sending.cost == 0
    assert set(Message.objects.filter(sending=sending).values_list("status", flat=True)) == {MessageStatus.CANCELLED}
    refund = BalanceEntry.objects.get(account=account, reason=LedgerReason.SENDING_REFUND)
    assert (refund.amount, refund.sending_id) == (2 * FEE, sending.pk)
