"""Reads on email validation jobs; every one is filtered by the caller's account."""

from collections.abc import Iterator

from django.db.models import QuerySet

from accounts.models import Account
from contacts.services import MAX_DATABASE_ID
from validation.models import EmailValidation, EmailValidationItem


def email_validation_list(*, account: Account) -> QuerySet[EmailValidation]:
    return EmailValidation.objects.filter(account=account).order_by("id")


def email_validation_get(*, account: Account, validation_id: int) -> EmailValidation | None:
    if not 0 < validation_id <= MAX_DATABASE_ID:
        return None
    return EmailValidation.objects.filter(account=account, pk=validation_id).first()


def email_validation_result_rows(*, validation: EmailValidation) -> Iterator[tuple[str, str]]:
    """(email, result) of every address of the job, in the order they were given; streamed."""
    return (
        EmailValidationItem.objects.filter(validation=validation)
        .order_by("id")
        .values_list("email", "result")
        .iterator(chunk_size=2000)
    )
