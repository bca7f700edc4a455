"""Email validation jobs: creation, the run (checks, reuse, blacklisting, money), notifications, deletion.

Life of a job: `pending` (created, queued in django-q2) -> `started` (a worker took it and held its
estimated cost from the balance) -> `finished` (every address has a result; the cost of the addresses
actually checked is kept and the rest of the hold goes back) or `failed` (the whole hold goes back).
Each change to started / finished / failed POSTs the spec's notification body (JSON `{"data": {...}}`)
to the job's notificationUrl through the outbound-URL guard (config/outbound.py: a URL it refuses is
109 when the job is created, and a failed notification if its name resolves to a refused address
later; redirects are not followed); a notification that fails is logged and recorded on the job, and
never stops it.

A run works through the job's unchecked addresses in batches of BATCH_SIZE, committing each batch
(results, progress counters, reuse records, blacklist entries) in one short transaction fenced by the
run's token, so a run that dies mid-way loses at most one batch and the next run resumes after the
last committed one; a run that finds another run's token stops writing. DNS lookups happen outside
any transaction.

Reuse: the latest result for each normalised address of an account is kept (VerifiedEmail) and
answers later jobs unless `force`; reused addresses are not charged. Results that only say DNS failed
(`dns_unreachable`, `dns_error`) are neither kept for reuse nor blacklisted: they describe our
resolver's or the domain's bad moment, not the address, and blacklisting a whole list because DNS was
down would be worse than useless. With `allow_risky` false, every other risky address goes on the
account's mailing blacklist (contacts.services.blacklist_add).
"""

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from accounts.models import Account, LedgerReason
from accounts.services import balance_credit, balance_debit
from config import outbound
from config.api import ERRORS
from contacts.models import BlacklistEntry, BlacklistType, Contact, Membership
from contacts.services import blacklist_add, groups_resolve
from validation.checks import DomainChecker, email_parse, parsed_emails_check
from validation.models import (
    EmailReason,
    EmailResult,
    EmailValidation,
    EmailValidationItem,
    ValidationStatus,
    VerifiedEmail,
)
from validation.presenters import email_validation_to_dict

logger = logging.getLogger(__name__)

MAX_EMAILS: Final = 100_000
MAX_EMAIL_LENGTH: Final = 254
MAX_URL_LENGTH: Final = 2000
BATCH_SIZE: Final = 500
INSERT_BATCH_SIZE: Final = 5000
FAILED_ERROR: Final = "Failed to process email validation"
NOT_ENOUGH_CREDITS_ERROR: Final = ERRORS[111][1]
NOTIFICATION_USER_AGENT: Final = "campaign-platform-email-validation/1.0"
# Results that say nothing about the address itself (see the module docstring).
UNVERIFIED_REASONS: Final = frozenset({EmailReason.DNS_UNREACHABLE, EmailReason.DNS_ERROR})
CENT: Final = Decimal("0.0001")

_url_validator = URLValidator(schemes=["http", "https"])


class EmailValidationRefused(Exception):
    """A job refused with one of the spec's codes (109 notification URL, 111 not enough credits)."""

    def __init__(self, code: int, description: str | None = None):
        self.code = code
        self.description = description or ERRORS[code][1]
        super().__init__(self.description)


# ---------------------------------------------------------------------------------------------
# Price and balance


def email_validation_price(*, account: Account) -> Decimal:
    """Price of one checked address in the account's currency: the account's own price when operators
    set one, else the platform's EMAIL_VALIDATION_PRICE."""
    price = account.email_validation_price
    if price is None:
        price = Decimal(settings.EMAIL_VALIDATION_PRICE)
    return price.quantize(CENT, rounding=ROUND_HALF_UP)


def _amount(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _balance_hold(*, account_id: int, amount: Decimal, validation_id: int) -> bool:
    """Take `amount` from the balance if it is all there, in one conditional UPDATE with its ledger
    entry (two jobs or a job and a send can never spend the same credit); False, changing nothing,
    when it is not."""
    return balance_debit(
        account_id=account_id, amount=amount, reason=LedgerReason.VALIDATION_HOLD, validation_id=validation_id
    )


def _balance_release(*, account_id: int, amount: Decimal, validation_id: int) -> None:
    balance_credit(
        account_id=account_id, amount=amount, reason=LedgerReason.VALIDATION_RELEASE, validation_id=validation_id
    )


# ---------------------------------------------------------------------------------------------
# Create


def email_validation_create(
    *,
    account: Account,
    emails: Sequence[str] | None = None,
    group_ids: Sequence[int] | None = None,
    force: bool = False,
    allow_risky: bool = False,
    notification_url: str | None = None,
) -> EmailValidation:
    """A pending job over `emails` and the emails of the contacts in `group_ids`, queued to run.

    Addresses are taken once each (lower-cased), as they are now: contacts added to the groups later
    are not part of the job. Nothing is created when the input is wrong (422, or 109 for the URL), when
    there is nothing to validate (422), or when the balance cannot pay the estimated cost (111).
    """
    emails = list(emails or [])
    group_ids = list(group_ids or [])
    if not emails and not group_ids:
        raise ValidationError("The emails field is required when groupsIds is not present.")
    if len(emails) > MAX_EMAILS:
        raise ValidationError(f"The emails may not have more than {MAX_EMAILS} items.")
    addresses = _addresses_clean(emails)
    url = _notification_url_clean(notification_url)
    with transaction.atomic():
        groups = groups_resolve(account=account, ids=group_ids) if group_ids else []
        price = email_validation_price(account=account)
        validation = EmailValidation.objects.create(
            account=account,
            force=force,
            allow_risky=allow_risky,
            notification_url=url,
            group_ids=[group.pk for group in groups],
            price=price,
            currency=account.currency,
        )
        EmailValidationItem.objects.bulk_create(
            [EmailValidationItem(validation=validation, email=address) for address in addresses],
            batch_size=INSERT_BATCH_SIZE,
        )
        if groups:
            _items_from_groups(validation=validation, group_ids=[group.pk for group in groups])
        total = EmailValidationItem.objects.filter(validation=validation).count()
        if not total:
            raise ValidationError("The selected groups have no contacts with an email.")
        estimated_cost = _amount(price * total)
        if not Account.objects.filter(pk=account.pk, balance__gte=estimated_cost).exists():
            raise EmailValidationRefused(111)
        validation.total = total
        validation.estimated_cost = estimated_cost
        validation.save(update_fields=["total", "estimated_cost", "updated_at"])
        transaction.on_commit(partial(email_validation_enqueue, validation_id=validation.pk))
    return validation


def _addresses_clean(emails: list[Any]) -> list[str]:
    """The given addresses as stored: stripped, lower-cased, first occurrence kept. Invalid ones stay
    (their result will be undeliverable, as in the spec's CSV sample); non-strings do not."""
    addresses: dict[str, None] = {}
    for index, raw in enumerate(emails):
        if isinstance(raw, bool) or not isinstance(raw, str) or not raw.strip():
            raise ValidationError(f"The emails.{index} must be a non-empty string.")
        address = raw.strip().lower()
        if len(address) > MAX_EMAIL_LENGTH:
            raise ValidationError(f"The emails.{index} may not be greater than {MAX_EMAIL_LENGTH} characters.")
        if "\x00" in address:
            # No address holds one, and PostgreSQL cannot store it: refused rather than a database error.
            raise ValidationError(f"The emails.{index} may not contain a NUL character.")
        addresses.setdefault(address, None)
    return list(addresses)


def _notification_url_clean(raw: Any) -> str:
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str) or len(raw.strip()) > MAX_URL_LENGTH:
        raise EmailValidationRefused(109)
    try:
        _url_validator(raw.strip())
    except ValidationError as exc:
        raise EmailValidationRefused(109) from exc
    if reason := outbound.url_refusal(url=raw.strip()):
        raise EmailValidationRefused(109, f"Notification URL incorrect: {reason}.")
    return raw.strip()


def _items_from_groups(*, validation: EmailValidation, group_ids: list[int]) -> None:
    """One item per distinct email of the groups' contacts, written by the database in one
    statement (a group of a million contacts never travels through Python)."""
    item = EmailValidationItem._meta
    contact = Contact._meta
    membership = Membership._meta
    placeholders = ", ".join(["%s"] * len(group_ids))
    sql = (
        f"INSERT INTO {item.db_table} (validation_id, email, result, reason, reused) "  # noqa: S608
        f"SELECT DISTINCT %s, c.email, %s, %s, %s FROM {contact.db_table} c "
        f"JOIN {membership.db_table} m ON m.contact_id = c.id "
        f"WHERE m.group_id IN ({placeholders}) AND c.account_id = %s AND c.email IS NOT NULL AND c.email <> %s "
        "ON CONFLICT (validation_id, email) DO NOTHING"
    )
    params = [validation.pk, "", "", False, *group_ids, validation.account_id, ""]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def email_validation_enqueue(*, validation_id: int) -> None:
    """Queue the job's task (again); harmless for a job that is running or has ended."""
    try:
        async_task(
            "validation.tasks.run_email_validation", validation_id, task_name=f"email-validation-{validation_id}"
        )
    except Exception:
        # The job is committed; the resume schedule picks it up within a minute.
        logger.exception("Could not queue email validation %s", validation_id)


# ---------------------------------------------------------------------------------------------
# Run


def email_validation_run(
    *, validation_id: int, deadline: float | None = None, checker: DomainChecker | None = None
) -> bool:
    """Run or resume a job until it ends or `deadline` (time.monotonic()) passes between batches.

    True when there is nothing more to do for the job (finished, failed, deleted, or taken over by
    another run); False when the deadline stopped it and it must be run again. Never raises: any
    error fails the job, gives its hold back and notifies.
    """
    token = uuid.uuid4().hex
    try:
        start = _start(validation_id=validation_id, token=token)
        if start is None:
            return True
        validation, changed = start
        if changed:
            email_validation_notify(validation=validation)
        if validation.status != ValidationStatus.STARTED:
            return True
        checker = checker or DomainChecker()
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            outcome = _batch_run(validation=validation, token=token, checker=checker)
            if outcome == "stop":
                return True
            if outcome == "done":
                break
        finished = _finish(validation_id=validation_id, token=token)
        if finished is not None:
            email_validation_notify(validation=finished)
        return True
    except Exception:
        logger.exception("Email validation %s failed", validation_id)
        email_validation_fail(validation_id=validation_id, token=token)
        return True


def _start(*, validation_id: int, token: str) -> tuple[EmailValidation, bool] | None:
    """Take the job for this run; a pending job becomes started (or failed, when the balance cannot
    hold its estimated cost). Returns the job and whether its status changed, None when there is
    nothing to run."""
    with transaction.atomic():
        validation = EmailValidation.objects.select_for_update().filter(pk=validation_id).first()
        if validation is None or validation.status not in (ValidationStatus.PENDING, ValidationStatus.STARTED):
            return None
        validation.run_token = token
        fields = ["run_token", "updated_at"]
        changed = validation.status == ValidationStatus.PENDING
        if changed:
            if _balance_hold(
                account_id=validation.account_id, amount=validation.estimated_cost, validation_id=validation.pk
            ):
                validation.status = ValidationStatus.STARTED
                validation.started_at = timezone.now()
                validation.reserved = validation.estimated_cost
                validation.cost = validation.estimated_cost
                fields += ["status", "started_at", "reserved", "cost"]
            else:
                validation.status = ValidationStatus.FAILED
                validation.error = NOT_ENOUGH_CREDITS_ERROR
                fields += ["status", "error"]
        validation.save(update_fields=fields)
    return validation, changed


def _batch_run(*, validation: EmailValidation, token: str, checker: DomainChecker) -> str:
    """Check the next batch of unchecked addresses and commit it: "more", "done" or "stop"."""
    items = list(EmailValidationItem.objects.filter(validation_id=validation.pk, result="").order_by("id")[:BATCH_SIZE])
    if not items:
        return "done"
    parsed = {item.pk: email_parse(item.email) for item in items}
    addresses = {pk: value.address if value is not None else None for pk, value in parsed.items()}
    previous: dict[str, VerifiedEmail] = {}
    if not validation.force:
        keys = {address for address in addresses.values() if address is not None}
        previous = {
            verified.email: verified
            for verified in VerifiedEmail.objects.filter(account_id=validation.account_id, email__in=keys)
        }
    to_check = [item.pk for item in items if addresses[item.pk] is None or addresses[item.pk] not in previous]
    outcomes = parsed_emails_check([parsed[pk] for pk in to_check], checker=checker)
    checks = dict(zip(to_check, outcomes, strict=True))
    now = timezone.now()
    verified: dict[str, VerifiedEmail] = {}
    risky: list[str] = []
    for item in items:
        address = addresses[item.pk]
        if item.pk in checks:
            check = checks[item.pk]
            item.result, item.reason, item.reused = check.result, check.reason, False
            if address is not None and check.reason not in UNVERIFIED_REASONS:
                verified[address] = VerifiedEmail(
                    account_id=validation.account_id,
                    email=address,
                    result=check.result,
                    reason=check.reason,
                    checked_at=now,
                )
        else:
            earlier = previous[address]
            item.result, item.reason, item.reused = earlier.result, earlier.reason, True
        if item.result == EmailResult.RISKY and address is not None and item.reason not in UNVERIFIED_REASONS:
            risky.append(address)

    with transaction.atomic():
        current = (
            EmailValidation.objects.select_for_update()
            .filter(pk=validation.pk, run_token=token, status=ValidationStatus.STARTED)
            .first()
        )
        if current is None:
            return "stop"
        _items_save(items)
        if verified:
            # In address order, so two jobs of one account upserting the same addresses cannot deadlock.
            VerifiedEmail.objects.bulk_create(
                [verified[address] for address in sorted(verified)],
                update_conflicts=True,
                unique_fields=["account", "email"],
                update_fields=["result", "reason", "checked_at"],
            )
        if risky and not validation.allow_risky:
            _blacklist(account=current.account, addresses=risky)
        current.processed += len(items)
        current.valid += sum(1 for item in items if item.result == EmailResult.DELIVERABLE)
        current.checked += len(checks)
        current.save(update_fields=["processed", "valid", "checked", "updated_at"])
    return "more"


def _items_save(items: list[EmailValidationItem]) -> None:
    """One UPDATE per distinct outcome (a handful per batch), far cheaper than bulk_update's CASE."""
    by_outcome: dict[tuple[str, str, bool], list[int]] = defaultdict(list)
    for item in items:
        by_outcome[(item.result, item.reason, item.reused)].append(item.pk)
    for (result, reason, reused), ids in by_outcome.items():
        EmailValidationItem.objects.filter(pk__in=ids).update(result=result, reason=reason, reused=reused)


def _blacklist(*, account: Account, addresses: list[str]) -> None:
    listed = set(
        BlacklistEntry.objects.filter(account=account, type=BlacklistType.MAILING, recipient__in=addresses).values_list(
            "recipient", flat=True
        )
    )
    for address in sorted(set(addresses) - listed):
        blacklist_add(account=account, type=BlacklistType.MAILING, recipient=address)


def _finish(*, validation_id: int, token: str) -> EmailValidation | None:
    """Keep the price of the checked addresses, give the rest of the hold back, mark finished."""
    with transaction.atomic():
        validation = (
            EmailValidation.objects.select_for_update()
            .filter(pk=validation_id, run_token=token, status=ValidationStatus.STARTED)
            .first()
        )
        if validation is None:
            return None
        cost = min(_amount(validation.price * validation.checked), validation.reserved)
        _balance_release(
            account_id=validation.account_id, amount=validation.reserved - cost, validation_id=validation.pk
        )
        validation.status = ValidationStatus.FINISHED
        validation.cost = cost
        validation.reserved = Decimal("0")
        validation.finished_at = timezone.now()
        validation.save(update_fields=["status", "cost", "reserved", "finished_at", "updated_at"])
    return validation


def email_validation_fail(
    *, validation_id: int, error: str = FAILED_ERROR, token: str | None = None
) -> EmailValidation | None:
    """Mark a pending or started job failed, give its whole hold back and notify; None when it is
    gone, already ended, or (given a run's `token`) run by another run now. Never raises: it is
    what runs when everything else went wrong."""
    try:
        with transaction.atomic():
            validation = EmailValidation.objects.select_for_update().filter(pk=validation_id).first()
            if validation is None or validation.status not in (ValidationStatus.PENDING, ValidationStatus.STARTED):
                return None
            if token is not None and validation.run_token != token:
                return None
            _balance_release(account_id=validation.account_id, amount=validation.reserved, validation_id=validation.pk)
            validation.status = ValidationStatus.FAILED
            validation.error = error
            validation.cost = Decimal("0")
            validation.reserved = Decimal("0")
            validation.run_token = ""
            validation.save(update_fields=["status", "error", "cost", "reserved", "run_token", "updated_at"])
    except Exception:
        logger.exception("Could not mark email validation %s failed", validation_id)
        return None
    email_validation_notify(validation=validation)
    return validation


# ---------------------------------------------------------------------------------------------
# Notifications


def email_validation_notify(*, validation: EmailValidation) -> bool:
    """POST the spec's notification body for the job's current status to its notificationUrl.

    True when it was delivered (a 2xx answer) or there is no URL. A failure is logged and kept in
    `notification_error`; it never raises.
    """
    if not validation.notification_url:
        return True
    body = {"data": email_validation_to_dict(validation, absolute_url=_public_url, with_error=True)}
    try:
        response = outbound.post(
            validation.notification_url,
            body=json.dumps(body).encode(),
            headers={"User-Agent": NOTIFICATION_USER_AGENT, "Content-Type": "application/json"},
        )
        problem = "" if 200 <= response.status < 300 else f"HTTP {response.status}"
    except outbound.OutboundRefused as exc:
        problem = f"Refused: {exc.reason}"[:500]
    except Exception as exc:
        problem = (exc.reason if isinstance(exc, outbound.OutboundError) else f"{type(exc).__name__}: {exc}")[:500]
    if not problem:
        return True
    logger.warning("Email validation %s: %s notification failed: %s", validation.pk, validation.status, problem)
    try:
        EmailValidation.objects.filter(pk=validation.pk).update(
            notification_error=f"{timezone.now().isoformat(timespec='seconds')} {validation.status}: {problem}"
        )
    except Exception:
        logger.exception("Could not record the notification failure of email validation %s", validation.pk)
    return False


def _public_url(path: str) -> str:
    return settings.PUBLIC_URL + path


# ---------------------------------------------------------------------------------------------
# Delete and resume


def email_validation_delete(*, validation: EmailValidation) -> None:
    """Remove the job and its results; a running job stops at its next batch and its hold goes back.
    The account's reuse records stay (they belong to the addresses, not to the job)."""
    with transaction.atomic():
        current = EmailValidation.objects.select_for_update().filter(pk=validation.pk).first()
        if current is None:
            return
        _balance_release(account_id=current.account_id, amount=current.reserved, validation_id=current.pk)
        current.delete()


def email_validations_resume(*, pending_after_seconds: int = 60, stalled_after_seconds: int | None = None) -> int:
    """Queue again the jobs whose task was lost: pending for over `pending_after_seconds`, or started
    with no batch committed for longer than a task may run. Safe with a live run (the token fences)."""
    if stalled_after_seconds is None:
        stalled_after_seconds = int(settings.Q_CLUSTER.get("timeout", 300)) + 60
    now = timezone.now()
    pending = EmailValidation.objects.filter(
        status=ValidationStatus.PENDING, created_at__lt=now - timedelta(seconds=pending_after_seconds)
    )
    stalled = EmailValidation.objects.filter(
        status=ValidationStatus.STARTED, updated_at__lt=now - timedelta(seconds=stalled_after_seconds)
    )
    ids = list(pending.values_list("pk", flat=True)) + list(stalled.values_list("pk", flat=True))
    for validation_id in ids:
        email_validation_enqueue(validation_id=validation_id)
    return len(ids)
