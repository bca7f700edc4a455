"""The balance ledger: every movement of Account.balance is an entry written in the same transaction
(sends, fan-out chunks, scheduled-cancel refunds, validation holds, operator top-ups), concurrent
debits never overdraw, and operators top up in the admin without ever editing the balance."""

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.urls import reverse

from accounts.models import Account, BalanceEntry, LedgerReason
from accounts.services import balance_credit, balance_debit, balance_set, balance_top_up
from campaigns.models import Sending
from campaigns.pricing import sms_price_table
from campaigns.services import scheduled_cancel
from messaging.models import Message
from tests.campaigns.conftest import ES_PRICE, error_of, post_sms
from tests.conftest import API_PASSWORD, make_api_client
from tests.validation.conftest import _no_queue, dns_server  # noqa: F401  (fixtures used here)
from validation.services import email_validation_create, email_validation_delete, email_validation_run


def ledger_total(account: Account) -> Decimal:
    return BalanceEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or Decimal(0)


def fresh_balance(account: Account) -> Decimal:
    return Account.objects.values_list("balance", flat=True).get(pk=account.pk)


def assert_ledger_matches(account: Account) -> None:
    assert ledger_total(account) == fresh_balance(account)
    last = BalanceEntry.objects.filter(account=account).order_by("-id").first()
    if last is not None:
        assert last.balance_after == fresh_balance(account)


# ---------------------------------------------------------------------------------------------
# Entries per movement


@pytest.mark.django_db
def test_provisioning_a_balance_writes_a_correction_entry(account):
    entry = BalanceEntry.objects.get(account=account)
    assert (entry.amount, entry.balance_after, entry.reason) == (
        Decimal("100"),
        Decimal("100"),
        LedgerReason.CORRECTION,
    )

    balance_set(account_id=account.pk, balance=Decimal("40"), note="reset")

    lowered = BalanceEntry.objects.filter(account=account).order_by("-id").first()
    assert (lowered.amount, lowered.balance_after, lowered.note) == (Decimal("-60"), Decimal("40"), "reset")
    assert_ledger_matches(account)


@pytest.mark.django_db
def test_an_accepted_sms_debits_its_cost_with_an_entry_naming_the_sending(api_client, account):
    response = post_sms(api_client, to=["34666555444", "34666555445"], message="Hi", **{"from": "T"})

    assert response.status_code == 202
    sending = Sending.objects.get(account=account)
    debit = BalanceEntry.objects.filter(account=account, reason=LedgerReason.SENDING).get()
    assert debit.amount == -2 * ES_PRICE
    assert debit.sending_id == sending.pk
    assert debit.balance_after == Decimal("100") - 2 * ES_PRICE
    assert_ledger_matches(account)


@pytest.mark.django_db
def test_a_refused_send_writes_no_entry_and_keeps_the_balance(api_client, account):
    balance_set(account_id=account.pk, balance=Decimal("0.04"))
    entries = BalanceEntry.objects.count()

    response = post_sms(api_client, to=["34666555444"], message="Hi", **{"from": "T"})

    assert error_of(response) == (402, 111)
    assert BalanceEntry.objects.count() == entries
    assert fresh_balance(account) == Decimal("0.04")


@pytest.mark.django_db
def test_cancelling_scheduled_messages_refunds_each_sending_with_its_own_entry(api_client, account):
    for _ in range(2):
        post_sms(api_client, to=["34666555444"], message="Hi", scheduleDate="20991111101010", **{"from": "T"})
    sendings = sorted(Sending.objects.filter(account=account).values_list("pk", flat=True))

    cancelled = scheduled_cancel(account=account, messages=Message.objects.filter(account=account))

    assert cancelled == 2
    refunds = BalanceEntry.objects.filter(account=account, reason=LedgerReason.SENDING_REFUND)
    assert sorted(refunds.values_list("sending_id", flat=True)) == sendings
    assert set(refunds.values_list("amount", flat=True)) == {ES_PRICE}
    assert fresh_balance(account) == Decimal("100")
    assert_ledger_matches(account)


@pytest.mark.django_db
def test_an_email_validation_holds_then_releases_with_entries_naming_the_job(account, dns_server):  # noqa: F811
    validation = email_validation_create(account=account, emails=["valid@example.com", "ghost@no-such-domain.com"])
    email_validation_run(validation_id=validation.pk)
    validation.refresh_from_db()

    entries = list(BalanceEntry.objects.filter(account=account, validation_id=validation.pk).order_by("id"))
    assert [entry.reason for entry in entries] == [LedgerReason.VALIDATION_HOLD]
    assert entries[0].amount == -validation.estimated_cost
    assert_ledger_matches(account)


@pytest.mark.django_db
def test_deleting_a_running_validation_releases_its_hold_and_the_entry_outlives_the_job(account, dns_server):  # noqa: F811
    validation = email_validation_create(account=account, emails=["valid@example.com"])
    # A hold without the run: as a job looks between its start and its first batch.
    assert balance_debit(
        account_id=account.pk, amount=Decimal("0.5"), reason=LedgerReason.VALIDATION_HOLD, validation_id=validation.pk
    )
    type(validation).objects.filter(pk=validation.pk).update(status="started", reserved=Decimal("0.5"))
    job_id = validation.pk

    email_validation_delete(validation=validation)

    reasons = list(BalanceEntry.objects.filter(validation_id=job_id).order_by("id").values_list("reason", "amount"))
    assert reasons == [
        (LedgerReason.VALIDATION_HOLD, Decimal("-0.5")),
        (LedgerReason.VALIDATION_RELEASE, Decimal("0.5")),
    ]
    assert fresh_balance(account) == Decimal("100")


@pytest.mark.django_db
def test_debit_credit_and_top_up_keep_the_running_total(account, admin_user):
    assert balance_debit(account_id=account.pk, amount=Decimal("30"), sending_id=7)
    assert not balance_debit(account_id=account.pk, amount=Decimal("70.0001"))
    balance_credit(account_id=account.pk, amount=Decimal("5"), reason=LedgerReason.SENDING_REFUND, sending_id=7)
    top_up = balance_top_up(account=account, amount=Decimal("25"), created_by=admin_user, note="INV-1")

    assert (top_up.amount, top_up.balance_after, top_up.created_by, top_up.note) == (
        Decimal("25"),
        Decimal("100"),
        admin_user,
        "INV-1",
    )
    assert balance_debit(account_id=account.pk, amount=Decimal("0")) is True  # nothing to pay, nothing written
    assert balance_credit(account_id=account.pk, amount=Decimal("0"), reason=LedgerReason.TOP_UP) is None
    assert BalanceEntry.objects.filter(account=account).count() == 4
    assert_ledger_matches(account)


@pytest.mark.django_db
def test_the_database_refuses_a_negative_balance_whoever_writes_it(account):
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(balance=Decimal("-0.0001"))


# ---------------------------------------------------------------------------------------------
# Races: real concurrent transactions on PostgreSQL


def _in_threads(count: int, work) -> list:
    """Run `work()` in `count` threads released together; each thread has its own connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:  # surfaced by the assertions on `results`
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_debits_never_overdraw_and_every_success_has_its_entry(account):
    balance_set(account_id=account.pk, balance=Decimal("5.5"))

    def debit() -> bool:
        with transaction.atomic():
            taken = balance_debit(account_id=account.pk, amount=Decimal("1"))
            # Hold the row lock a moment, so the other debits queue behind an uncommitted one.
            connection.cursor().execute("SELECT pg_sleep(0.02)")
            return taken

    results = _in_threads(12, debit)

    assert results.count(True) == 5 and results.count(False) == 7, results
    assert fresh_balance(account) == Decimal("0.5")
    assert BalanceEntry.objects.filter(account=account, reason=LedgerReason.SENDING).count() == 5
    assert_ledger_matches(account)


@pytest.mark.django_db(transaction=True)
def test_concurrent_sms_sends_never_drive_the_balance_below_zero(api_user, account):
    # Read, not ES_PRICE: a transactional test may run after another one flushed the seeded prices.
    price = sms_price_table(account=account).cost("ES", 1)
    balance_set(account_id=account.pk, balance=4 * price + Decimal("0.01"))

    def send() -> int:
        client = make_api_client(api_user, API_PASSWORD)
        return post_sms(client, to=["34666555444"], message="Hi", **{"from": "T"}).status_code

    statuses = _in_threads(8, send)

    assert sorted(statuses) == [202] * 4 + [402] * 4, statuses
    assert fresh_balance(account) == Decimal("0.01")
    assert Message.objects.filter(account=account).count() == 4
    assert_ledger_matches(account)


# ---------------------------------------------------------------------------------------------
# Admin: the balance is read-only; operators top up through a form that writes a credit entry


def account_change_url(account: Account) -> str:
    return reverse("admin:accounts_account_change", args=[account.pk])


@pytest.mark.django_db
def test_the_account_page_shows_the_balance_read_only_with_a_top_up_link(admin_client, account):
    response = admin_client.get(account_change_url(account))

    assert response.status_code == 200
    assert "balance" not in response.context["adminform"].form.fields
    assert reverse("admin:accounts_account_top_up", args=[account.pk]) in response.content.decode()


@pytest.mark.django_db
def test_saving_the_account_form_never_overwrites_a_balance_moved_meanwhile(admin_client, account):
    data = {
        "name": "ACME Ltd",
        "timezone": account.timezone,
        "language": account.language,
        "country": account.country,
        "currency": account.currency,
        "balance": "999999",  # a tampered form: ignored, the field is read-only
        "verified_senders-TOTAL_FORMS": "0",
        "verified_senders-INITIAL_FORMS": "0",
        "verified_senders-MIN_NUM_FORMS": "0",
        "verified_senders-MAX_NUM_FORMS": "1000",
    }
    original_save = Account.save

    def save_after_a_send(self, *args, **kwargs):
        balance_debit(account_id=account.pk, amount=Decimal("10"))  # committed while the form was open
        return original_save(self, *args, **kwargs)

    Account.save = save_after_a_send
    try:
        response = admin_client.post(account_change_url(account), data)
    finally:
        Account.save = original_save

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.balance) == ("ACME Ltd", Decimal("90"))
    assert_ledger_matches(account)


@pytest.mark.django_db
def test_top_up_form_adds_a_credit_entry_by_the_operator(admin_client, admin_user, account):
    url = reverse("admin:accounts_account_top_up", args=[account.pk])
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(url, {"amount": "12.50", "note": "Invoice 2026-001"})

    assert response.status_code == 302
    entry = BalanceEntry.objects.filter(account=account).order_by("-id").first()
    assert (entry.reason, entry.amount, entry.created_by, entry.note) == (
        LedgerReason.TOP_UP,
        Decimal("12.50"),
        admin_user,
        "Invoice 2026-001",
    )
    assert fresh_balance(account) == Decimal("112.50")


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1.00001"])
def test_a_bad_top_up_shows_the_error_beside_the_field_and_changes_nothing(admin_client, account, amount):
    entries = BalanceEntry.objects.count()

    response = admin_client.post(reverse("admin:accounts_account_top_up", args=[account.pk]), {"amount": amount})

    assert response.status_code == 200
    assert response.context["form"].errors["amount"]
    assert BalanceEntry.objects.count() == entries
    assert fresh_balance(account) == Decimal("100")


@pytest.mark.django_db
def test_the_ledger_admin_lists_entries_and_allows_no_edits(admin_client, account):
    changelist = reverse("admin:accounts_balanceentry_changelist")
    entry = BalanceEntry.objects.get(account=account)

    assert admin_client.get(changelist, {"account__id__exact": account.pk}).status_code == 200
    assert admin_client.get(changelist, {"q": "ACME"}).status_code == 200
    assert admin_client.get(reverse("admin:accounts_balanceentry_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:accounts_balanceentry_delete", args=[entry.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert BalanceEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.django_db
def test_staff_without_change_permission_cannot_top_up(client, account, django_user_model):
    viewer = django_user_model.objects.create_user(username="viewer", password="pw", is_staff=True)
    client.force_login(viewer)

    response = client.post(reverse("admin:accounts_account_top_up", args=[account.pk]), {"amount": "10"})

    assert response.status_code == 403
    assert fresh_balance(account) == Decimal("100")
