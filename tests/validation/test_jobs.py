"""Running email validation jobs: statuses, notifications, money, reuse vs force, allowRisky
blacklisting, DNS unreachable, failures, resuming, fencing and the django-q2 entry points."""

import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from contacts.models import BlacklistEntry
from contacts.services import blacklist_add
from tests.validation.conftest import SAMPLE_NOTIFICATION_KEYS
from validation import services, tasks
from validation.checks import DomainChecker
from validation.models import (
    EmailReason,
    EmailResult,
    EmailValidation,
    ValidationStatus,
    VerifiedEmail,
)
from validation.services import (
    email_validation_create,
    email_validation_delete,
    email_validation_run,
    email_validations_resume,
)

BALANCE = Decimal("100")
MIXED = [
    "valid@example.com",  # deliverable (MX)
    "someone@a-only.com",  # deliverable (implicit MX)
    "ghost@no-such-domain.com",  # undeliverable (NXDOMAIN)
    "x@null-mx.com",  # undeliverable (null MX)
    "not-an-address",  # undeliverable (syntax)
    "info@example.com",  # risky (role)
    "temp@mailinator.com",  # risky (disposable)
]


def new_job(account, emails=MIXED, **kwargs) -> EmailValidation:
    return email_validation_create(account=account, emails=list(emails), **kwargs)


def run(validation: EmailValidation, **kwargs) -> EmailValidation:
    email_validation_run(validation_id=validation.pk, **kwargs)
    validation.refresh_from_db()
    return validation


def results(validation: EmailValidation) -> dict[str, tuple[str, str]]:
    return {item.email: (item.result, item.reason) for item in validation.items.all()}


def balance(account: Account) -> Decimal:
    account.refresh_from_db()
    return account.balance


def blacklisted(account: Account) -> set[str]:
    return set(BlacklistEntry.objects.filter(account=account, type="mailing").values_list("recipient", flat=True))


# ---------------------------------------------------------------------------------------------
# Statuses, counts, notifications


def test_job_runs_from_pending_to_finished_with_every_result(account, dns_server):
    validation = new_job(account, allow_risky=True)
    assert validation.status == ValidationStatus.PENDING
    validation = run(validation)
    assert validation.status == ValidationStatus.FINISHED
    assert (validation.total, validation.processed, validation.valid) == (7, 7, 2)
    assert validation.started_at is not None and validation.finished_at is not None
    assert results(validation) == {
        "valid@example.com": (EmailResult.DELIVERABLE, EmailReason.MAIL_SERVER),
        "someone@a-only.com": (EmailResult.DELIVERABLE, EmailReason.IMPLICIT_MX),
        "ghost@no-such-domain.com": (EmailResult.UNDELIVERABLE, EmailReason.NO_DOMAIN),
        "x@null-mx.com": (EmailResult.UNDELIVERABLE, EmailReason.NULL_MX),
        "not-an-address": (EmailResult.UNDELIVERABLE, EmailReason.SYNTAX),
        "info@example.com": (EmailResult.RISKY, EmailReason.ROLE),
        "temp@mailinator.com": (EmailResult.RISKY, EmailReason.DISPOSABLE),
    }


def test_started_and_finished_notifications_are_the_spec_bodies(account, dns_server, receiver, settings):
    settings.PUBLIC_URL = "https://campaigns.example.com"
    validation = run(new_job(account, ["valid@example.com"], notification_url=receiver.url))
    assert [request["method"] for request in receiver.requests] == ["POST", "POST"]
    assert all(request["path"] == "/notificationUrl" for request in receiver.requests)
    assert all(request["headers"]["Content-Type"] == "application/json" for request in receiver.requests)
    started, finished = receiver.bodies()
    assert list(started) == ["data"] and list(started["data"]) == SAMPLE_NOTIFICATION_KEYS
    assert started["data"] | {"createdAt": None, "updatedAt": None} == {
        "id": validation.pk,
        "status": "started",
        "total": 1,
        "processed": 0,
        "valid": 0,
        "estimatedCost": 0.0035,
        "cost": 0.0035,
        "currency": "EUR",
        "createdAt": None,
        "updatedAt": None,
        "finishedAt": None,
        "resultUrl": None,
        "error": "",
    }
    assert list(finished["data"]) == SAMPLE_NOTIFICATION_KEYS
    assert finished["data"] | {"createdAt": None, "updatedAt": None, "finishedAt": None} == {
        "id": validation.pk,
        "status": "finished",
        "total": 1,
        "processed": 1,
        "valid": 1,
        "estimatedCost": 0.0035,
        "cost": 0.0035,
        "currency": "EUR",
        "createdAt": None,
        "updatedAt": None,
        "finishedAt": None,
        "resultUrl": f"https://campaigns.example.com/api/rest/validation/emails/{validation.pk}/result",
        "error": "",
    }
    assert finished["data"]["finishedAt"] == finished["data"]["updatedAt"]
    assert validation.notification_error == ""


def test_a_job_without_notification_url_notifies_nobody(account, dns_server, receiver):
    run(new_job(account, ["valid@example.com"]))
    assert receiver.requests == []


@pytest.mark.parametrize("answer", [500, 404])
def test_a_notification_the_receiver_refuses_is_recorded_and_the_job_still_finishes(
    account, dns_server, receiver, answer
):
    receiver.statuses = [answer, answer]
    validation = run(new_job(account, ["valid@example.com"], notification_url=receiver.url))
    assert validation.status == ValidationStatus.FINISHED
    assert len(receiver.requests) == 2
    assert f"finished: HTTP {answer}" in validation.notification_error


def test_an_unreachable_notification_url_is_recorded_and_the_job_still_finishes(account, dns_server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/notify"  # nothing listens there any more
    validation = run(new_job(account, ["valid@example.com"], notification_url=url))
    assert validation.status == ValidationStatus.FINISHED
    assert "finished: could not connect to 127.0.0.1" in validation.notification_error


def test_a_notification_url_refused_when_called_is_recorded_and_the_job_still_finishes(
    account, dns_server, receiver, settings
):
    validation = new_job(account, ["valid@example.com"], notification_url=receiver.url)
    # Accepted while allowed (tests/conftest.py allows the fake receiver's 127.0.0.1), loopback when
    # called, as when its name has moved to a refused address since.
    settings.OUTBOUND_ALLOWED_HOSTS = []
    validation = run(validation)
    assert validation.status == ValidationStatus.FINISHED
    assert "finished: Refused: the address 127.0.0.1 is loopback" in validation.notification_error
    assert receiver.requests == []


# ---------------------------------------------------------------------------------------------
# Money


def test_the_estimated_cost_is_held_at_start_and_the_cost_of_the_checked_addresses_kept(
    account, dns_server, monkeypatch
):
    validation = new_job(account, allow_risky=True)
    assert balance(account) == BALANCE
    seen: list[tuple[str, Decimal, Decimal]] = []
    monkeypatch.setattr(
        services,
        "email_validation_notify",
        lambda *, validation: seen.append((validation.status, validation.cost, balance(account))),
    )
    validation = run(validation)
    assert seen == [
        ("started", Decimal("0.0245"), BALANCE - Decimal("0.0245")),
        ("finished", Decimal("0.0245"), BALANCE - Decimal("0.0245")),
    ]
    assert (validation.cost, validation.reserved, validation.checked) == (Decimal("0.0245"), 0, 7)


def test_reused_addresses_are_free_and_the_rest_of_the_hold_goes_back(account, dns_server):
    run(new_job(account, ["valid@example.com", "ghost@no-such-domain.com"]))
    after_first = balance(account)
    assert after_first == BALANCE - Decimal("0.0070")
    validation = run(new_job(account, ["valid@example.com", "ghost@no-such-domain.com", "new@a-only.com"]))
    assert validation.estimated_cost == Decimal("0.0105")
    assert (validation.checked, validation.cost) == (1, Decimal("0.0035"))
    assert balance(account) == after_first - Decimal("0.0035")


def test_a_balance_spent_before_the_job_starts_fails_it_without_charging(account, dns_server, receiver):
    validation = new_job(account, ["valid@example.com"], notification_url=receiver.url)
    Account.objects.filter(pk=account.pk).update(balance=Decimal("0.001"))
    validation = run(validation)
    assert (validation.status, validation.error, validation.cost) == ("failed", "Not enough credits", 0)
    assert validation.processed == 0
    assert balance(account) == Decimal("0.001")
    [failed] = receiver.bodies()
    assert (failed["data"]["status"], failed["data"]["error"], failed["data"]["cost"]) == (
        "failed",
        "Not enough credits",
        0,
    )


def test_deleting_a_running_job_gives_its_hold_back_and_its_run_writes_nothing_more(
    account, dns_server, monkeypatch, receiver
):
    validation = new_job(account, ["valid@example.com", "info@example.com"], notification_url=receiver.url)
    real_check = services.parsed_emails_check
    balances: list[Decimal] = []

    def deleted_while_checking(parsed, *, checker):
        balances.append(balance(account))
        email_validation_delete(validation=validation)
        return real_check(parsed, checker=checker)

    monkeypatch.setattr(services, "parsed_emails_check", deleted_while_checking)
    assert email_validation_run(validation_id=validation.pk) is True
    assert balances == [BALANCE - Decimal("0.0070")]
    assert balance(account) == BALANCE
    assert not EmailValidation.objects.exists()
    assert not VerifiedEmail.objects.exists()
    assert blacklisted(account) == set()
    assert [body["data"]["status"] for body in receiver.bodies()] == ["started"]


# ---------------------------------------------------------------------------------------------
# Reuse vs force


def test_earlier_results_are_reused_without_any_dns_query(account, dns_server):
    run(new_job(account, ["valid@example.com", "ghost@no-such-domain.com"]))
    dns_server.queries.clear()
    validation = run(new_job(account, ["VALID@example.com", "ghost@no-such-domain.com"]))
    assert dns_server.queries == []
    assert set(validation.items.values_list("email", "result", "reused")) == {
        ("valid@example.com", "deliverable", True),
        ("ghost@no-such-domain.com", "undeliverable", True),
    }
    assert (validation.processed, validation.valid, validation.checked, validation.cost) == (2, 1, 0, 0)


def test_force_checks_again_and_keeps_the_new_result(account, dns_server):
    run(new_job(account, ["someone@a-only.com"]))
    dns_server.zone = {**dns_server.zone, "a-only.com": {}}  # the domain lost its address record
    dns_server.queries.clear()
    reused = run(new_job(account, ["someone@a-only.com"]))
    assert results(reused) == {"someone@a-only.com": (EmailResult.DELIVERABLE, EmailReason.IMPLICIT_MX)}
    forced = run(new_job(account, ["someone@a-only.com"], force=True))
    assert dns_server.queried("a-only.com") == 3  # MX, A, AAAA
    assert results(forced) == {"someone@a-only.com": (EmailResult.UNDELIVERABLE, EmailReason.NO_MAIL_SERVER)}
    assert forced.items.get().reused is False
    assert forced.cost == Decimal("0.0035")
    assert VerifiedEmail.objects.get(account=account, email="someone@a-only.com").result == "undeliverable"


def test_another_accounts_results_are_never_reused(account, other_user, dns_server):
    Account.objects.filter(pk=other_user.account.pk).update(balance=BALANCE)
    run(new_job(other_user.account, ["valid@example.com"]))
    dns_server.queries.clear()
    validation = run(new_job(account, ["valid@example.com"]))
    assert validation.items.get().reused is False
    assert dns_server.queried("example.com") == 1


# ---------------------------------------------------------------------------------------------
# allowRisky and the blacklist


def test_without_allow_risky_risky_addresses_go_on_the_mailing_blacklist(account, dns_server):
    run(new_job(account))
    assert blacklisted(account) == {"info@example.com", "temp@mailinator.com"}


def test_with_allow_risky_nothing_is_blacklisted(account, dns_server):
    run(new_job(account, allow_risky=True))
    assert blacklisted(account) == set()


def test_reused_risky_results_are_blacklisted_too(account, dns_server):
    run(new_job(account, ["info@example.com"], allow_risky=True))
    assert blacklisted(account) == set()
    validation = run(new_job(account, ["info@example.com"]))
    assert validation.items.get().reused is True
    assert blacklisted(account) == {"info@example.com"}


def test_an_address_already_blacklisted_keeps_its_entry(account, dns_server):
    entry = blacklist_add(account=account, type="mailing", recipient="info@example.com", is_definitive=True)
    run(new_job(account, ["info@example.com", "admin@example.com"]))
    assert blacklisted(account) == {"info@example.com", "admin@example.com"}
    entry.refresh_from_db()
    assert entry.is_definitive is True


def test_blacklisting_stays_in_the_jobs_account(account, other_user, dns_server):
    run(new_job(account, ["info@example.com"]))
    assert blacklisted(other_user.account) == set()


# ---------------------------------------------------------------------------------------------
# DNS unreachable


def test_with_dns_unreachable_the_job_finishes_with_risky_results(account, silent_dns, receiver):
    validation = run(new_job(account, ["valid@example.com", "bob@acme-mail.com"], notification_url=receiver.url))
    assert validation.status == ValidationStatus.FINISHED
    assert set(results(validation).values()) == {(EmailResult.RISKY, EmailReason.DNS_UNREACHABLE)}
    assert [body["data"]["status"] for body in receiver.bodies()] == ["started", "finished"]


def test_risky_only_because_dns_was_unreachable_is_neither_blacklisted_nor_reused(account, closed_dns, settings):
    run(new_job(account, ["valid@example.com", "temp@mailinator.com"]))
    assert blacklisted(account) == {"temp@mailinator.com"}  # the list is evidence; DNS failing is not
    assert set(VerifiedEmail.objects.values_list("email", flat=True)) == {"temp@mailinator.com"}


def test_each_domain_is_queried_once_across_the_batches_of_a_job(account, dns_server, monkeypatch):
    monkeypatch.setattr(services, "BATCH_SIZE", 50)
    emails = [f"user{index}@acme-mail.com" for index in range(180)] + [f"u{index}@a-only.com" for index in range(70)]
    validation = run(new_job(account, emails))
    assert (validation.processed, validation.valid) == (250, 250)
    assert dns_server.queried("acme-mail.com") == 1
    assert dns_server.queried("a-only.com") == 2


# ---------------------------------------------------------------------------------------------
# Failures


def test_an_error_during_the_run_fails_the_job_refunds_it_and_notifies(account, dns_server, receiver, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "parsed_emails_check", broken)
    validation = new_job(account, ["valid@example.com"], notification_url=receiver.url)
    assert email_validation_run(validation_id=validation.pk) is True
    validation.refresh_from_db()
    assert (validation.status, validation.error, validation.cost, validation.reserved) == (
        "failed",
        "Failed to process email validation",
        0,
        0,
    )
    assert balance(account) == BALANCE
    started, failed = receiver.bodies()
    assert started["data"]["status"] == "started"
    assert list(failed["data"]) == SAMPLE_NOTIFICATION_KEYS
    assert failed["data"] | {"id": None, "createdAt": None, "updatedAt": None} == {
        "id": None,
        "status": "failed",
        "total": 1,
        "processed": 0,
        "valid": 0,
        "estimatedCost": 0.0035,
        "cost": 0,
        "currency": "EUR",
        "createdAt": None,
        "updatedAt": None,
        "finishedAt": None,
        "resultUrl": None,
        "error": "Failed to process email validation",
    }


def test_a_failed_or_finished_job_is_not_run_again(account, dns_server):
    validation = run(new_job(account, ["valid@example.com"]))
    dns_server.queries.clear()
    assert email_validation_run(validation_id=validation.pk) is True
    assert dns_server.queries == []
    assert balance(account) == BALANCE - Decimal("0.0035")
    assert services.email_validation_fail(validation_id=validation.pk) is None


def test_a_run_killed_mid_way_is_resumed_after_the_last_committed_batch(account, dns_server, monkeypatch, receiver):
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    emails = ["a@example.com", "b@example.com", "c@example.com", "d@a-only.com", "e@a-only.com"]
    validation = new_job(account, emails, notification_url=receiver.url)
    real_batch = services._batch_run
    calls = {"count": 0}

    def dies_after_one_batch(**kwargs):
        calls["count"] += 1
        if calls["count"] == 2:
            raise SystemExit("worker killed")
        return real_batch(**kwargs)

    monkeypatch.setattr(services, "_batch_run", dies_after_one_batch)
    with pytest.raises(SystemExit):
        email_validation_run(validation_id=validation.pk)
    validation.refresh_from_db()
    assert (validation.status, validation.processed) == ("started", 2)
    monkeypatch.setattr(services, "_batch_run", real_batch)
    validation = run(validation)
    assert (validation.status, validation.processed, validation.valid, validation.checked) == ("finished", 5, 5, 5)
    assert balance(account) == BALANCE - Decimal("0.0175")
    assert [body["data"]["status"] for body in receiver.bodies()] == ["started", "finished"]


def test_a_run_past_its_deadline_stops_between_batches_and_reports_it(account, dns_server, monkeypatch):
    monkeypatch.setattr(services, "BATCH_SIZE", 1)
    validation = new_job(account, ["a@example.com", "b@example.com"])
    assert email_validation_run(validation_id=validation.pk, deadline=0.0) is False
    validation.refresh_from_db()
    assert (validation.status, validation.processed) == ("started", 0)
    assert email_validation_run(validation_id=validation.pk) is True
    validation.refresh_from_db()
    assert (validation.status, validation.processed) == ("finished", 2)


def test_a_run_whose_job_was_taken_over_writes_nothing(account, dns_server):
    validation = new_job(account, ["a@example.com"])
    first, _ = services._start(validation_id=validation.pk, token="first")
    services._start(validation_id=validation.pk, token="second")
    assert services._batch_run(validation=first, token="first", checker=DomainChecker()) == "stop"
    assert services._finish(validation_id=validation.pk, token="first") is None
    assert services.email_validation_fail(validation_id=validation.pk, token="first") is None
    validation.refresh_from_db()
    assert (validation.status, validation.processed) == ("started", 0)
    assert validation.items.get().result == ""


# ---------------------------------------------------------------------------------------------
# django-q2 entry points


def test_task_runs_the_job_and_leaves_an_ended_one_alone(account, dns_server):
    validation = new_job(account, ["a@example.com"])
    assert tasks.run_email_validation(validation.pk) == "finished"
    assert tasks.run_email_validation(validation.pk) == "finished"
    assert tasks.run_email_validation(999999) is None


def test_task_that_runs_out_of_time_queues_itself_again(account, monkeypatch, _no_queue):
    validation = new_job(account, ["a@example.com"])
    monkeypatch.setattr(tasks, "email_validation_run", lambda **kwargs: False)
    assert tasks.run_email_validation(validation.pk) == "continued"
    assert _no_queue == [validation.pk]


def test_resume_queues_jobs_whose_task_was_lost(account, _no_queue):
    fresh = new_job(account, ["a@example.com"])
    lost = new_job(account, ["b@example.com"])
    stalled = new_job(account, ["c@example.com"])
    running = new_job(account, ["d@example.com"])
    long_ago = timezone.now() - timedelta(hours=1)
    EmailValidation.objects.filter(pk=lost.pk).update(created_at=long_ago)
    EmailValidation.objects.filter(pk__in=[stalled.pk, running.pk]).update(status="started", created_at=long_ago)
    EmailValidation.objects.filter(pk=stalled.pk).update(updated_at=long_ago)
    assert email_validations_resume() == 2
    assert sorted(_no_queue) == sorted([lost.pk, stalled.pk])
    assert fresh.pk not in _no_queue and running.pk not in _no_queue


def test_the_resume_schedule_is_created_once(db):
    from django_q.models import Schedule

    tasks.ensure_schedules()
    tasks.ensure_schedules()
    schedule = Schedule.objects.get(name="validation: resume email validations")
    assert schedule.func == "validation.tasks.resume_email_validations"
    assert schedule.minutes == 1
