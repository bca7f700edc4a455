"""The outbox writer: message public ids and the message INSERT (COPY on PostgreSQL, bulk_create
elsewhere), shared by list sends (campaigns.services) and group fan-out chunks (campaigns.fanout).

A leaf of the send side: it imports only the models, so every sender can write messages without
importing another sender. Tests that want the portable path patch `campaigns.outbox.use_copy`
(every caller looks it up here, at call time).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from messaging.models import Message

PUBLIC_ID_LENGTH: Final = 13


# In ASCII order, so that string order is numeric order (base32hex).
_ID_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
_ID_PAIRS: Final = [a + b for a in _ID_ALPHABET for b in _ID_ALPHABET]  # 10 bits -> 2 characters
_ID_EPOCH_MS: Final = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_ID_SEQUENCE_BITS: Final = 25


def public_ids_generate(count: int) -> list[str]:
    """`count` message ids of 13 characters (0-9, A-V), sortable by creation time.

    8 characters hold the milliseconds since 2024-01-01 (40 bits, good until 2058) and 5 a
    sequence that starts at a random point (25 bits). Ids written together therefore land at the
    right edge of the unique index on Message.public_id instead of at random pages, which keeps
    a million-message COPY from thrashing that index (measured: 15-30% faster inserts), and a
    batch never repeats an id. Two batches created in the same millisecond collide only if their
    random ranges overlap (about 1 in 3,000 for two 5,000-id batches); the unique index then
    fails the write, which is retried whole. Ids are not secrets: every read is filtered by
    account, and unsubscribe links carry their own signature.
    """
    if count <= 0:
        return []
    milliseconds = (time.time_ns() // 1_000_000 - _ID_EPOCH_MS) & (2**40 - 1)
    pairs = _ID_PAIRS
    prefix = "".join(pairs[(milliseconds >> shift) & 1023] for shift in (30, 20, 10, 0))
    start = int.from_bytes(os.urandom(4), "big") & (2**_ID_SEQUENCE_BITS - 1)
    mask = 2**_ID_SEQUENCE_BITS - 1
    alphabet = _ID_ALPHABET
    ids = []
    for offset in range(count):
        value = (start + offset) & mask
        ids.append(f"{prefix}{pairs[value >> 15]}{pairs[(value >> 5) & 1023]}{alphabet[value & 31]}")
    return ids


# ---------------------------------------------------------------------------------------------
# Writing messages


class NewMessage(NamedTuple):
    """A message to insert, in the column order of `messages_insert`."""

    public_id: str
    account_id: int
    sending_id: int
    contact_id: int | None
    channel: str
    sender: str
    recipient: str
    subject: str
    body: str
    encoding: str
    parts: int
    options: dict
    status: str
    scheduled_at: datetime | None
    expires_at: datetime | None
    due_at: datetime
    cost: Decimal
    notification_url: str
    certified: bool


# Columns without a database default that a new message leaves at their initial value.
INITIAL_COLUMNS: Final = (
    "attempts", "claim_token", "provider", "provider_message_id", "error_code", "error_reason", "created_at",
    "updated_at",
)  # fmt: skip
_OPTIONS_INDEX: Final = NewMessage._fields.index("options")


def copy_statement(columns: Sequence[str]) -> str:
    return f"COPY {Message._meta.db_table} ({', '.join(columns)}) FROM STDIN"


def use_copy() -> bool:
    """Whether messages are written with COPY (PostgreSQL) or bulk_create (other databases)."""
    return connection.vendor == "postgresql"


def messages_insert(messages: Sequence[NewMessage]) -> None:
    """Insert `messages` in one COPY (PostgreSQL) or bulk_create (other databases)."""
    if not messages:
        return
    if not use_copy():
        Message.objects.bulk_create((Message(**message._asdict()) for message in messages), batch_size=500)
        return
    from psycopg.types.json import Jsonb

    now = timezone.now()
    initial = (0, "", "", "", "", "", now, now)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(copy_statement(NewMessage._fields + INITIAL_COLUMNS)) as copy,
    ):
        for message in messages:
            row = list(message)
            row[_OPTIONS_INDEX] = Jsonb(message.options)
            copy.write_row((*row, *initial))


# COPY text format: backslash, tab, newline and carriage return must be escaped in a value.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return copy_text(json.dumps(value, separators=(",", ":")))
    return copy_text(str(value))


# ---------------------------------------------------------------------------------------------
# Dispatch kick


def dispatch_kick_on_commit() -> None:
    """Wake the dispatcher once the messages are committed (messaging.tasks.kick_dispatch; its
    periodic schedule finds them anyway)."""

    def kick() -> None:
        from messaging.tasks import kick_dispatch  # messaging.tasks imports the dispatcher lazily too

        kick_dispatch()

    transaction.on_commit(kick)
