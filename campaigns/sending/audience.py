"""The pipeline's "audience" step for list sends: the recipients as given, normalised, matched to the
account's contacts (created when missing), with the fence that keeps contact deletes out of the way.

Group sends resolve their audience in SQL, by contact-id range (campaigns.fanout); they take the
same fence once per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from django.db import connection

from accounts.models import Account
from campaigns.errors import SendError
from campaigns.personalisation import CONTACT_VALUE_COLUMNS
from campaigns.pricing import phone_country
from campaigns.sending.request import Target
from contacts.models import Contact
from contacts.normalize import InvalidRecipient, normalise_email, normalise_phone

MAX_RECIPIENTS: Final = 10_000  # per API request; larger audiences go through group sends
# First key of the advisory lock that orders contact deletes after running chunks and list sends of
# the same account (second key: the account id); the same number is in messaging migration 0005.
FANOUT_CONTACTS_LOCK: Final = 1_836_279_601

NOT_VALID = "No valid recipients"
BLACKLISTED = "No valid recipients: the recipient is on the blacklist"
DUPLICATE = "No valid recipients: duplicate recipient"

_CONTACT_COLUMNS: Final = ("id", *CONTACT_VALUE_COLUMNS, "custom_fields")


def recipients_list(raw: Any) -> list[Any]:
    """`to` as a list: one address alone is a list of one; none, or more than MAX_RECIPIENTS, is refused."""
    if isinstance(raw, str | int) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise SendError(102, field="recipients")
    if len(raw) > MAX_RECIPIENTS:
        raise SendError(422, f"The to may not have more than {MAX_RECIPIENTS} items.", field="recipients")
    return raw


def targets_normalise(targets: Sequence[Target], *, address: str) -> None:
    """Each target's normalised address (`key`), and for phones its country; 102 for a malformed one."""
    for target in targets:
        try:
            if address == "phone":
                if isinstance(target.raw, bool) or not isinstance(target.raw, str | int):
                    raise InvalidRecipient("not a phone number")
                target.key = normalise_phone(str(target.raw), None)
                target.country = phone_country(target.key)
            else:
                if not isinstance(target.raw, str):
                    raise InvalidRecipient("not an email address")
                target.key = normalise_email(target.raw)
        except InvalidRecipient:
            target.error = SendError(102, NOT_VALID, field="recipients")


def contact_deletes_fence(account_id: int) -> None:
    """Hold the account's contact deletes until this transaction commits (PostgreSQL).

    Message.contact has no foreign-key constraint (see messaging/models.py). The trigger of a
    contact DELETE takes this advisory lock exclusively before it sets the messages' contact_id
    NULL (messaging migration 0005), so it runs after this chunk commits and sees its messages;
    a delete already past that point makes this call wait until it commits, and the chunk then no
    longer reads the contact. One lock per chunk instead of one row lock per contact read.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [FANOUT_CONTACTS_LOCK, account_id])


def contacts_match(*, account: Account, column: str, targets: Sequence[Target]) -> None:
    """Attach each target's existing contact (one query for all).

    Called inside the send's transaction: the fence keeps a concurrent contact delete from
    committing between this read and the message insert (Message.contact has no FK trigger)."""
    contact_deletes_fence(account.pk)
    keys = [target.key for target in targets if target.error is None]
    found = {
        row[column]: row
        for row in Contact.objects.filter(account=account, **{f"{column}__in": keys}).values(*_CONTACT_COLUMNS)
    }
    for target in targets:
        if target.error is None:
            target.contact = found.get(target.key)


def contacts_create_missing(*, account: Account, column: str, targets: Sequence[Target]) -> None:
    """Create the contacts the accepted targets lack (one INSERT), then read their ids (one query).

    ignore_conflicts makes a contact created meanwhile by a concurrent send a match, not an error.
    """
    missing = {target.key: target for target in targets if target.contact is None}
    if not missing:
        return
    Contact.objects.bulk_create(
        (
            Contact(account=account, **{column: key}, country_iso=target.country if column == "phone" else None)
            for key, target in missing.items()
        ),
        ignore_conflicts=True,
    )
    ids = dict(Contact.objects.filter(account=account, **{f"{column}__in": list(missing)}).values_list(column, "id"))
    for key, target in missing.items():
        target.contact = {"id": ids.get(key), column: key}
