"""Consent per contact and channel: the current state (ContactConsent, what the consent rule reads)
and its append-only history (ConsentEvent, shown on the contact page and exportable).

Every source writes through `consent_set` / `consents_set`: the staff page, the admin, imports (one
call per import batch), the unsubscribe page and keyword replies (STOP / START). A call is
set-based: one upsert of the current state (PostgreSQL: `INSERT … SELECT … ON CONFLICT DO UPDATE …
WHERE status IS DISTINCT FROM … RETURNING`, so only rows whose status really moves come back, and two
concurrent writers of the same contact serialise on the unique index instead of both recording a
change) and one INSERT of history rows for exactly those.

Decisions:
- No row means `unknown`. Setting `unknown` on a contact without a row changes nothing (no row, no
  history); setting it on one that has a row updates it and records the change.
- Setting the status a contact already has records nothing (the history holds changes, not repeats),
  so a STOP sent twice is one event and one confirmation reply.
- Contacts of another account in `contact_ids` are ignored (never an error: imports and keyword
  replies resolve contacts inside the account themselves).
- The history is deleted with its contact (the contact's data goes with it); it is never edited.
- Form submissions record nothing: the form annex (content.form_fields) has no consent element,
  and reading consent from an ordinary checkbox would be a guess.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Account, User
from compliance.models import ConsentChannel, ConsentEvent, ConsentSource, ConsentStatus, ContactConsent
from contacts.models import Contact

NOTE_MAX_LENGTH = ConsentEvent._meta.get_field("note").max_length
# Import cells and API values accepted for each status (compared case-insensitively, trimmed).
STATUS_WORDS: dict[str, str] = {
    **{word: ConsentStatus.OPTED_IN for word in ("opted_in", "opt_in", "optin", "opted in", "yes", "y", "1", "true")},
    **{
        word: ConsentStatus.OPTED_OUT
        for word in ("opted_out", "opt_out", "optout", "opted out", "no", "n", "0", "false")
    },
    "unknown": ConsentStatus.UNKNOWN,
}


class ConsentInvalid(ValueError):
    """A channel, status or source that is not one of the choices; the message says which."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ConsentChange:
    contact_id: int
    channel: str
    status: str


class ConsentState(NamedTuple):
    status: str
    source: str
    changed_at: datetime | None


def consent_status_parse(raw: Any) -> str:
    """The status a cell or API value means (`opted_in`, `yes`, `1` …), or ConsentInvalid."""
    status = STATUS_WORDS.get(str(raw if raw is not None else "").strip().lower())
    if status is None:
        raise ConsentInvalid(
            "status",
            f'"{raw}" is not a consent value; use opted_in, opted_out, unknown, yes / no or 1 / 0.',
        )
    return status


def _check(*, channel: str, status: str, source: str) -> None:
    if channel not in ConsentChannel.values:
        raise ConsentInvalid("channel", f"The channel must be one of {', '.join(ConsentChannel.values)}.")
    if status not in ConsentStatus.values:
        raise ConsentInvalid("status", f"The status must be one of {', '.join(ConsentStatus.values)}.")
    if source not in ConsentSource.values:
        raise ConsentInvalid("source", f"The source must be one of {', '.join(ConsentSource.values)}.")


def consent_set(
    *,
    account: Account,
    contact_ids: Iterable[int],
    channel: str,
    status: str,
    source: str,
    at: datetime | None = None,
    user: User | None = None,
    note: str = "",
) -> list[int]:
    """Set one channel's consent of many contacts; returns the ids of the contacts whose status changed
    (each got one history row)."""
    changes = [ConsentChange(contact_id=pk, channel=channel, status=status) for pk in dict.fromkeys(contact_ids)]
    _check(channel=channel, status=status, source=source)
    made = consents_set(account=account, changes=changes, source=source, at=at, user=user, note=note)
    return [change.contact_id for change in made]


def consents_set(
    *,
    account: Account,
    changes: Sequence[ConsentChange],
    source: str,
    at: datetime | None = None,
    user: User | None = None,
    note: str = "",
) -> list[ConsentChange]:
    """`consent_set` for changes of several channels and statuses at once (an import batch): one upsert
    per status among them (at most three) and one INSERT of history rows. Returns the changes made."""
    for change in changes:
        _check(channel=change.channel, status=change.status, source=source)
    if not changes:
        return []
    at = at or timezone.now()
    note = note[:NOTE_MAX_LENGTH]
    # The last change asked for a contact and channel wins.
    wanted = {(change.contact_id, change.channel): change.status for change in changes}
    by_status: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for (contact_id, channel), status in wanted.items():
        by_status[status].append((contact_id, channel))
    made: list[ConsentChange] = []
    with transaction.atomic():
        for status, keys in by_status.items():
            upsert = _upsert_postgresql if connection.vendor == "postgresql" else _upsert_portable
            changed = upsert(account=account, keys=keys, status=status, source=source, at=at)
            made.extend(ConsentChange(contact_id=pk, channel=channel, status=status) for pk, channel in changed)
        ConsentEvent.objects.bulk_create(
            [
                ConsentEvent(
                    account=account,
                    contact_id=change.contact_id,
                    channel=change.channel,
                    status=change.status,
                    source=source,
                    note=note,
                    created_by=user,
                    created_at=at,
                )
                for change in made
            ]
        )
    return made


_TABLE = ContactConsent._meta.db_table
_CONTACTS = Contact._meta.db_table


def _upsert_postgresql(
    *, account: Account, keys: list[tuple[int, str]], status: str, source: str, at: datetime
) -> list[tuple[int, str]]:
    ids, channels = [pk for pk, _channel in keys], [channel for _pk, channel in keys]
    with connection.cursor() as cursor:
        if status == ConsentStatus.UNKNOWN:
            # A contact without a row is already unknown: only existing rows can change.
            cursor.execute(
                f"UPDATE {_TABLE} AS t SET status = %s, source = %s, changed_at = %s "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::varchar[]) AS v(contact_id, channel) "
                "WHERE t.account_id = %s AND t.contact_id = v.contact_id AND t.channel = v.channel "
                "AND t.status <> %s RETURNING t.contact_id, t.channel",
                [status, source, at, ids, channels, account.pk, status],
            )
            return cursor.fetchall()
        cursor.execute(
            f"INSERT INTO {_TABLE} AS t (status, source, changed_at, account_id, contact_id, channel) "  # noqa: S608
            f"SELECT %s, %s, %s, c.account_id, c.id, v.channel FROM unnest(%s::bigint[], %s::varchar[]) "
            f"AS v(contact_id, channel) JOIN {_CONTACTS} AS c ON c.id = v.contact_id AND c.account_id = %s "
            "ON CONFLICT (contact_id, channel) DO UPDATE SET status = EXCLUDED.status, source = EXCLUDED.source, "
            "changed_at = EXCLUDED.changed_at WHERE t.status IS DISTINCT FROM EXCLUDED.status "
            "RETURNING t.contact_id, t.channel",
            [status, source, at, ids, channels, account.pk],
        )
        return cursor.fetchall()


def _upsert_portable(
    *, account: Account, keys: list[tuple[int, str]], status: str, source: str, at: datetime
) -> list[tuple[int, str]]:
    ids = {pk for pk, _channel in keys}
    known = set(Contact.objects.filter(account=account, pk__in=ids).values_list("pk", flat=True))
    current = {
        (row.contact_id, row.channel): row
        for row in ContactConsent.objects.select_for_update().filter(account=account, contact_id__in=known)
    }
    changed: list[tuple[int, str]] = []
    for key in keys:
        if key[0] not in known:
            continue
        row = current.get(key)
        if (row.status if row else ConsentStatus.UNKNOWN) == status:
            continue
        if row is None:
            ContactConsent.objects.create(
                account=account, contact_id=key[0], channel=key[1], status=status, source=source, changed_at=at
            )
        else:
            ContactConsent.objects.filter(pk=row.pk).update(status=status, source=source, changed_at=at)
        changed.append(key)
    return changed


# The consent channel a message's channel counts against (landing SMS are SMS, both voice kinds voice).
CONSENT_CHANNEL_OF_MESSAGE: dict[str, str] = {
    "sms": ConsentChannel.SMS,
    "landing": ConsentChannel.SMS,
    "mailing": ConsentChannel.MAILING,
    "text2speech": ConsentChannel.VOICE,
    "voice-interactive": ConsentChannel.VOICE,
    "whatsapp": ConsentChannel.WHATSAPP,
}


def consent_withdraw_for_message(
    *, account: Account, contact_id: int | None, message_channel: str, source: str, note: str = ""
) -> bool:
    """Opt the message's contact out of the message's channel (the unsubscribe page); False when the
    message has no contact or its consent already was opted out."""
    channel = CONSENT_CHANNEL_OF_MESSAGE.get(message_channel)
    if contact_id is None or channel is None:
        return False
    changed = consent_set(
        account=account, contact_ids=[contact_id], channel=channel, status=ConsentStatus.OPTED_OUT, source=source,
        note=note,
    )  # fmt: skip
    return bool(changed)


# ---------------------------------------------------------------------------------------------
# Reads


def consent_of(*, contact: Contact) -> dict[str, ConsentState]:
    """The contact's consent on every channel (`unknown`, no source, no time where nothing is recorded)."""
    states = {channel: ConsentState(ConsentStatus.UNKNOWN, "", None) for channel in ConsentChannel.values}
    for row in ContactConsent.objects.filter(contact=contact).only("channel", "status", "source", "changed_at"):
        states[row.channel] = ConsentState(row.status, row.source, row.changed_at)
    return states


def consent_history(*, contact: Contact) -> QuerySet[ConsentEvent]:
    """The contact's consent changes, newest first."""
    return ConsentEvent.objects.filter(contact=contact).select_related("created_by").order_by("-created_at", "-id")


def consent_statuses_by_contact(*, contact_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """{contact id: {channel: status}} for a chunk of contacts (exports: one query per chunk)."""
    found: dict[int, dict[str, str]] = defaultdict(dict)
    rows = ContactConsent.objects.filter(contact_id__in=list(contact_ids)).values_list(
        "contact_id", "channel", "status"
    )
    for contact_id, channel, status in rows:
        found[contact_id][channel] = status
    return found


HISTORY_COLUMNS = ("date", "channel", "status", "source", "note", "by")


def consent_history_csv(*, contact: Contact) -> Iterator[str]:
    """The contact's consent history as CSV lines (UTF-8 with BOM), newest first."""
    from contacts.exporting import _LineBuffer, csv_safe

    writer = csv.writer(_LineBuffer())
    yield "\ufeff"
    yield writer.writerow(HISTORY_COLUMNS)
    for event in consent_history(contact=contact).iterator(chunk_size=2000):
        yield writer.writerow(
            [
                event.created_at.isoformat(),
                event.channel,
                event.status,
                event.get_source_display(),
                csv_safe(event.note),
                event.created_by.get_username() if event.created_by else "",
            ]
        )
