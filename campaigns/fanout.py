"""Group sends: the fan-out split into django-q2 chunk tasks (the message writer and public ids are
campaigns.outbox, personalisation values campaigns.personalisation, unsubscribe links tracking.links).

A group send (campaigns.services.sms_group_send / mailing_group_send) creates the Sending, then
`fanout_plan()` cuts the recipients into FanoutChunk rows of CHUNK_SIZE contacts by contact-id
range and enqueues one django-q2 task per chunk (thousands of recipients per task, never one
task per recipient). Each task, `fanout_chunk_run(chunk_id)`:

- locks its FanoutChunk row (a duplicate run waits on the lock, then sees it DONE and stops);
- streams the chunk's contacts by key range (`id > last_id ORDER BY id LIMIT BATCH_SIZE`) with
  the group membership as EXISTS, the blacklist as an SQL anti-join (NOT EXISTS: the
  `exclusion()` of campaigns.sending.suppress.BlacklistRule) and only the columns the template
  uses (custom fields read as `custom_fields ->> key` in SQL);
- runs the pipeline's other rules (campaigns.sending.suppress.rules_for: consent, holdout, caps,
  quiet hours once compliance plugs them in) over each fetched batch, one judgement per rule per
  batch: a held row is written `scheduled` until the rule allows it, a skipped one at cost 0 and
  then rejected with its reason (a `rejected` event), exactly as in list sends; with no such rule
  the batch goes straight to the hot loop;
- holds its account's contact deletes until it commits (one shared advisory lock, see
  `contact_deletes_fence`: Message.contact has no per-row foreign-key trigger), so a contact
  deleted meanwhile never leaves a dangling id;
- renders each row with the template compiled once, counts its SMS parts, prices it (SMS: parts x
  price; certified SMS and email: plus the certification fee), and writes
  the messages with psycopg's COPY, one COPY per batch fed in slices of COPY_SLICE rows so the
  server parses one slice while Python renders the next (plain SQLite: bulk_create, slower but
  the same result);
- debits the account with one conditional UPDATE (balance >= cost), adds its totals to the
  Sending with F() expressions, and marks the chunk DONE — all in the chunk's one transaction.

Idempotence: the chunk row is the done-marker, committed with the COPY, so re-running a chunk
(django-q2 redelivery, a retry, an operator re-enqueueing `fanout_resume`) never duplicates a
message; a run killed half-way rolls back entirely and the next run starts the chunk over.
No per-recipient ORM object is built on PostgreSQL, and memory stays bounded by BATCH_SIZE.

A recipient whose rendered SMS needs more parts than allowed, or holds characters the chosen
encoding cannot carry, is skipped and counted in `FanoutChunk.skipped`. A chunk the balance
cannot pay is marked FAILED ("Not enough credits") and writes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns import outbox
from campaigns.models import Channel, FanoutChunk, FanoutChunkStatus, Sending, SendingStatus
from campaigns.outbox import (
    INITIAL_COLUMNS,
    NewMessage,
    copy_statement,
    copy_text,
    copy_value,
    messages_insert,
    public_ids_generate,
)
from campaigns.personalisation import CONTACT_FIELDS, html_escaped, mail_options
from campaigns.pricing import COST_QUANTUM, certification_fee, sms_price_table
from campaigns.sending import persist, suppress
from campaigns.sending.audience import contact_deletes_fence
from campaigns.sending.channels import address_column
from campaigns.sending.persist import account_debit
from compliance.protocol import Candidate, Purpose, Rule, RuleContext, Skip, rules_judge
from compliance.rules import touches_record
from contacts.models import Contact, Membership
from content.email import (
    TEXT_BODY_OPTION,
    Signers,
    email_html_prepare,
    email_template_prepare,
    form_ids_of,
    personal_links,
)
from content.links import form_signer
from messaging import encoding as sms_encoding
from messaging.models import MessageStatus
from messaging.rendering import compile_template
from messaging.scheduling import message_initial_state
from tracking.links import unsubscribe_signer, unsubscribe_url

logger = logging.getLogger(__name__)

CHUNK_SIZE: Final = 10_000  # recipients per django-q2 task
BATCH_SIZE: Final = 10_000  # contacts fetched per key-range query inside a chunk
# Rows rendered between two writes into the open COPY: PostgreSQL parses and indexes one slice
# while Python renders the next (two processes, two cores).
COPY_SLICE: Final = 1_000

# ---------------------------------------------------------------------------------------------
# Fan-out: planning


@dataclass(frozen=True)
class FanoutPlan:
    chunks: int
    recipients: int  # contacts in the groups with the channel's address (before the blacklist)


def _members_sql(*, account_id: int, group_ids: Sequence[int] | None, column: str) -> tuple[str, list]:
    contact = Contact._meta.db_table
    membership = Membership._meta.db_table
    sql = f"SELECT c.id FROM {contact} c WHERE c.account_id = %s AND c.{column} IS NOT NULL"  # noqa: S608
    params: list[Any] = [account_id]
    if group_ids is not None:
        marks = ", ".join(["%s"] * len(group_ids))
        sql += f" AND EXISTS (SELECT 1 FROM {membership} m WHERE m.contact_id = c.id AND m.group_id IN ({marks}))"  # noqa: S608
        params.extend(group_ids)
    return sql, params


def fanout_plan(*, sending: Sending, group_ids: Sequence[int] | None, chunk_size: int | None = None) -> FanoutPlan:
    """Cut the group send's recipients into FanoutChunk rows of `chunk_size` contacts (by id range)
    and enqueue one task per chunk when the transaction commits. `group_ids` None: every contact.

    One window-function query returns only the chunk boundaries, never the recipient list.
    """
    chunk_size = chunk_size or CHUNK_SIZE
    members_sql, params = _members_sql(
        account_id=sending.account_id, group_ids=group_ids, column=address_column(sending.channel)
    )
    sql = (
        "SELECT id, rn, total FROM ("  # noqa: S608
        "SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn, COUNT(*) OVER () AS total "
        f"FROM ({members_sql}) members) numbered WHERE rn %% %s = 0 OR rn = total ORDER BY id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, chunk_size])
        boundaries = cursor.fetchall()
    chunks = []
    after = 0
    for last_id, _rn, _total in boundaries:
        chunks.append(FanoutChunk(sending=sending, after_contact_id=after, last_contact_id=last_id))
        after = last_id
    FanoutChunk.objects.bulk_create(chunks)
    chunk_ids = list(FanoutChunk.objects.filter(sending=sending).order_by("id").values_list("id", flat=True))
    _enqueue_on_commit(chunk_ids)
    return FanoutPlan(chunks=len(chunk_ids), recipients=boundaries[-1][2] if boundaries else 0)


def fanout_resume(*, sending: Sending) -> int:
    """Enqueue again the chunks of `sending` still pending (after a worker loss); safe to repeat."""
    chunk_ids = list(
        FanoutChunk.objects.filter(sending=sending, status=FanoutChunkStatus.PENDING).values_list("id", flat=True)
    )
    _enqueue_on_commit(chunk_ids)
    return len(chunk_ids)


def _enqueue_on_commit(chunk_ids: list[int]) -> None:
    def enqueue() -> None:
        from django_q.tasks import async_task

        for chunk_id in chunk_ids:
            async_task("campaigns.fanout.fanout_chunk_run", chunk_id, task_name=f"fanout-chunk-{chunk_id}")

    if chunk_ids:
        transaction.on_commit(enqueue)


# ---------------------------------------------------------------------------------------------
# Fan-out: one chunk


class NotEnoughCredit(Exception):
    pass


@dataclass
class ChunkTotals:
    messages: int = 0
    skipped: int = 0  # not written: the rendered SMS cannot go (parts, encoding)
    rejected: int = 0  # written, then rejected by a compliance rule (counted in `messages`)
    sms_parts: int = 0
    cost: Decimal = Decimal(0)


def fanout_chunk_run(chunk_id: int) -> ChunkTotals | None:
    """The django-q2 task of one chunk (see the module docstring). Returns the chunk's totals, or
    None when there was nothing to do (already done, unknown chunk)."""
    try:
        with transaction.atomic():
            chunk = (
                FanoutChunk.objects.select_for_update(of=("self",))
                .select_related("sending__account")
                .filter(pk=chunk_id)
                .first()
            )
            if chunk is None or chunk.status != FanoutChunkStatus.PENDING:
                return None
            totals = _chunk_write(chunk)
            FanoutChunk.objects.filter(pk=chunk.pk).update(
                status=FanoutChunkStatus.DONE,
                messages=totals.messages,
                skipped=totals.skipped,
                sms_parts=totals.sms_parts,
                cost=totals.cost,
                finished_at=timezone.now(),
            )
            if totals.messages:
                outbox.dispatch_kick_on_commit()
            return totals
    except NotEnoughCredit:
        FanoutChunk.objects.filter(pk=chunk_id, status=FanoutChunkStatus.PENDING).update(
            status=FanoutChunkStatus.FAILED, error="Not enough credits", finished_at=timezone.now()
        )
        logger.warning("Fan-out chunk %s not sent: not enough credits", chunk_id)
        return None


class _Renderer:
    """Everything a chunk needs that is the same for every row, built once per chunk."""

    def __init__(self, sending: Sending) -> None:
        options = sending.options
        fanout = options["fanout"]
        self.sending = sending
        self.channel = sending.channel
        self.is_mail = sending.channel == Channel.MAILING
        self.group_ids: list[int] | None = fanout.get("group_ids")
        # Email bodies are prepared once per chunk by content.email (custom links, CSS inlined,
        # plain-text alternative); the API checked their forms and files when the send was made.
        self.email = (
            email_template_prepare(account=sending.account, body=fanout["message"], check=False)
            if self.is_mail
            else None
        )
        self.body = self.email.html if self.email is not None else compile_template(fanout["message"])
        self.form_ids = form_ids_of(self.body)
        self.track_opens = bool(options.get("track_opens", True))
        self.track_clicks = bool(options.get("track_clicks", True))
        self.subject = compile_template(fanout.get("subject") or "") if self.is_mail else None
        names = set(self.body.variables) | (set(self.subject.variables) if self.subject else set())
        self.variables: tuple[str, ...] = tuple(sorted(names))
        self.unsubscribe = "UNSUB_URL" in self.body.reserved or (
            self.subject is not None and "UNSUB_URL" in self.subject.reserved
        )
        self.encoding = options.get("encoding", sms_encoding.DEFAULT_ENCODING)
        self.max_parts = int(options.get("parts", 1))
        self.trans = bool(options.get("trans"))
        self.prices = None if self.is_mail else sms_price_table(account=sending.account)
        self.fee = certification_fee(certified=bool(options.get("certified")))
        self.message_options = dict(fanout.get("message_options") or {})

    def contacts(self, *, after_id: int, last_id: int, exclusions: Sequence[Exists] = ()) -> Any:
        """The query of the chunk's next batch: key range, group EXISTS, and NOT EXISTS for each
        rule that excludes in SQL (the blacklist: campaigns.sending.suppress.chunk_split)."""
        column = address_column(self.channel)
        contacts = Contact.objects.filter(
            account_id=self.sending.account_id, id__gt=after_id, id__lte=last_id, **{f"{column}__isnull": False}
        )
        for exclusion in exclusions:
            contacts = contacts.exclude(exclusion)
        if self.group_ids is not None:
            # The id range, redundant with contact_id = pk, lets PostgreSQL read only this chunk's
            # slice of the (group, contact) index instead of hashing the group's every membership
            # for each batch (which grew with the group: quadratic over a million-contact send).
            members = Membership.objects.filter(
                contact_id=OuterRef("pk"), group_id__in=self.group_ids, contact_id__gt=after_id, contact_id__lte=last_id
            )
            contacts = contacts.filter(Exists(members))
        annotations = {f"v{index}": self._value_expression(name) for index, name in enumerate(self.variables)}
        return list(
            contacts.annotate(**annotations)
            .order_by("id")
            .values_list("id", column, "country_iso", *annotations)[:BATCH_SIZE]
        )

    @staticmethod
    def _value_expression(name: str) -> Any:
        custom = KeyTextTransform(name, "custom_fields")
        column = CONTACT_FIELDS.get(name)
        return Coalesce(custom, F(column), output_field=TextField()) if column else custom


def _chunk_write(chunk: FanoutChunk) -> ChunkTotals:
    sending = chunk.sending
    totals = ChunkTotals()
    if sending.status == SendingStatus.CANCELLED:
        return totals
    contact_deletes_fence(sending.account_id)
    renderer = _Renderer(sending)
    now = timezone.now()
    status, due_at = _release(sending, now)
    sink_class = _CopySink if outbox.use_copy() else _OrmSink
    sink = sink_class(sending, renderer, status, due_at, now)
    # The pipeline's rules (campaigns.sending.suppress): the blacklist as NOT EXISTS in the batch
    # query, every other rule over each fetched batch (one query per rule per batch).
    ctx = suppress.context(
        account_id=sending.account_id, channel=sending.channel, purpose=sending.purpose, now=due_at,
        ignore_holdout=bool(sending.options.get("ignore_holdout")),
    )  # fmt: skip
    exclusions, judged = suppress.chunk_split(suppress.rules_for(ctx), ctx, column=address_column(sending.channel))
    price_counts: dict[tuple[str | None, int], int] = {}
    # Contacts this chunk sends marketing to (held ones too), counted for frequency caps.
    touched: list[int] | None = [] if sending.purpose == Purpose.MARKETING else None
    after_id = chunk.after_contact_id
    while True:
        rows = renderer.contacts(after_id=after_id, last_id=chunk.last_contact_id, exclusions=exclusions)
        if not rows:
            break
        after_id, fetched = rows[-1][0], len(rows)
        ids = public_ids_generate(fetched)
        if judged:
            rows, ids = _rules_apply(
                rows, ids, rules=judged, ctx=ctx, renderer=renderer, sink_class=sink_class, totals=totals,
                price_counts=price_counts, status=status, due_at=due_at, now=now, touched=touched,
            )  # fmt: skip
        if touched is not None:
            touched.extend(row[0] for row in rows)
        with sink.open():
            for start in range(0, len(rows), COPY_SLICE):
                end = start + COPY_SLICE
                _render_rows(rows[start:end], renderer, sink, totals, price_counts, ids=ids[start:end])
                sink.flush()
        if fetched < BATCH_SIZE:
            break
    fee = renderer.fee
    if renderer.prices is not None:
        totals.cost = sum(
            ((renderer.prices.cost(country, parts) + fee) * count for (country, parts), count in price_counts.items()),
            Decimal(0),
        ).quantize(COST_QUANTUM)
    else:
        totals.cost = fee * totals.messages
    if totals.cost and not account_debit(account_id=sending.account_id, amount=totals.cost, sending_id=sending.pk):
        raise NotEnoughCredit
    if totals.messages:
        Sending.objects.filter(pk=sending.pk).update(
            total=F("total") + totals.messages,
            total_sms_parts=F("total_sms_parts") + totals.sms_parts,
            cost=F("cost") + totals.cost,
            updated_at=now,
        )
    if touched:
        touches_record(account_id=sending.account_id, channel=sending.channel, day=now.date(), contact_ids=touched)
    if totals.rejected:  # after the total grows, so the sending cannot look finished too early
        persist.rejections_progress(sending_id=sending.pk, count=totals.rejected, now=now)
    return totals


def _rules_apply(
    rows: list[tuple],
    ids: list[str],
    *,
    rules: Sequence[Rule],
    ctx: RuleContext,
    renderer: _Renderer,
    sink_class: type[_CopySink] | type[_OrmSink],
    totals: ChunkTotals,
    price_counts: dict[tuple[str | None, int], int],
    status: str,
    due_at: datetime,
    now: datetime,
    touched: list[int] | None = None,
) -> tuple[list[tuple], list[str]]:
    """Judge one fetched batch with the rules; write the held rows (scheduled until the rule's
    instant, the reason in options["held"]) and the skipped ones (cost 0, then a `rejected` event
    with the reason, like list sends: campaigns.sending.persist). Returns the rows that go as usual."""
    candidates = [Candidate(contact_id=row[0], address=row[1], country=row[2]) for row in rows]
    verdicts = rules_judge(rules, ctx, candidates)
    free_rows: list[tuple] = []
    free_ids: list[str] = []
    held: dict[tuple[datetime, str], list[int]] = defaultdict(list)
    skipped: list[int] = []
    for index, verdict in enumerate(verdicts):
        if verdict is None:
            free_rows.append(rows[index])
            free_ids.append(ids[index])
        elif isinstance(verdict, Skip):
            skipped.append(index)
        else:
            held[(max(verdict.until, due_at), verdict.reason)].append(index)
    for (until, reason), indexes in held.items():
        if touched is not None:
            touched.extend(rows[i][0] for i in indexes)
        options = {persist.HELD_OPTION: {"reason": reason, "until": until.isoformat()}}
        sink = sink_class(renderer.sending, renderer, MessageStatus.SCHEDULED, until, now, extra_options=options)
        _render_rows([rows[i] for i in indexes], renderer, sink, totals, price_counts, ids=[ids[i] for i in indexes])
        sink.flush()
    if skipped:
        sink = sink_class(renderer.sending, renderer, status, due_at, now)
        reasons = {ids[i]: verdicts[i].reason for i in skipped}
        written = _render_rows(
            [rows[i] for i in skipped], renderer, sink, totals, price_counts, ids=[ids[i] for i in skipped], free=True
        )
        sink.flush()
        rejections = [(row[0], reasons[row[0]]) for row in written]
        persist.rejections_record(sending_id=renderer.sending.pk, rejections=rejections, now=now, progress=False)
        totals.rejected += len(rejections)
    return free_rows, free_ids


def _release(sending: Sending, now: datetime) -> tuple[str, datetime]:
    return message_initial_state(
        now=now,
        scheduled_at=sending.scheduled_at,
        expires_at=sending.expires_at,
        available_times=sending.options.get("available_times"),
    )


def _render_rows(
    rows: list[tuple],
    renderer: _Renderer,
    sink: _CopySink | _OrmSink,
    totals: ChunkTotals,
    price_counts: dict[tuple[str | None, int], int],
    *,
    ids: Sequence[str] | None = None,
    free: bool = False,
) -> list[tuple]:
    """The hot loop: one render and one segment count per row, no ORM object, no query. Rows go
    to the sink as (public id, contact id, recipient, body, parts, cost, subject, unsubscribe,
    plain-text alternative), and are returned. `ids`: the rows' public ids (generated here when
    not given). `free`: rows a rule rejected: written at cost 0, not priced, their parts not counted."""
    ids = public_ids_generate(len(rows)) if ids is None else ids
    names = renderer.variables
    render = renderer.body.render
    out: list[tuple] = []
    append = out.append
    if renderer.is_mail:
        render_subject = renderer.subject.render
        signer = unsubscribe_signer()
        signers = Signers.create()
        email, track_opens, track_clicks = renderer.email, renderer.track_opens, renderer.track_clicks
        cost = "0" if free else str(renderer.fee)
        for public_id, row in zip(ids, rows, strict=True):
            own = dict(zip(names, row[3:], strict=True))
            unsubscribe = unsubscribe_url(public_id, signer=signer)
            values = html_escaped(own)
            values["UNSUB_URL"] = own["UNSUB_URL"] = unsubscribe
            body, text = email_html_prepare(
                email,
                html_values=values,
                text_values=own,
                public_id=public_id,
                track_opens=track_opens,
                track_clicks=track_clicks,
                signers=signers,
            )
            append((public_id, row[0], row[1], body, 1, cost, render_subject(own), unsubscribe, text))
        sink.add_rows(out)
        totals.messages += len(out)
        return out
    encoding, max_parts, trans = renderer.encoding, renderer.max_parts, renderer.trans
    measure, translate = sms_encoding.measure, sms_encoding.translate
    prices, fee = renderer.prices, renderer.fee
    cost_text: dict[tuple[str | None, int], str] = {}
    signer = unsubscribe_signer() if renderer.unsubscribe else None
    form_ids = renderer.form_ids
    form_link_signer = form_signer() if form_ids else None
    parts_total = skipped = 0
    for public_id, row in zip(ids, rows, strict=True):
        values = dict(zip(names, row[3:], strict=True))
        if signer is not None:
            values["UNSUB_URL"] = unsubscribe_url(public_id, signer=signer)
        if form_ids:
            values.update(personal_links(form_ids, public_id=public_id, signer=form_link_signer))
        body = render(values)
        if trans:
            body = translate(body)
        sms = measure(body, encoding)
        parts = sms.parts
        if sms.unsupported or not 0 < parts <= max_parts:
            skipped += 1
            continue
        if free:
            append((public_id, row[0], row[1], body, parts, "0", "", "", ""))
            continue
        key = (row[2], parts)
        cost = cost_text.get(key)
        if cost is None:
            cost = cost_text[key] = str(prices.cost(*key) + fee)
        price_counts[key] = price_counts.get(key, 0) + 1
        parts_total += parts
        append((public_id, row[0], row[1], body, parts, cost, "", "", ""))
    sink.add_rows(out)
    totals.messages += len(out)
    totals.sms_parts += parts_total
    totals.skipped += skipped
    return out


def _mail_row_options(base: Mapping[str, Any], unsubscribe: str, text_body: str) -> dict[str, Any]:
    return {**mail_options(base, unsubscribe), TEXT_BODY_OPTION: text_body}


class _CopySink:
    """Rows as COPY text lines: the constant columns are formatted once per chunk."""

    COLUMNS: Final = ("public_id", "contact_id", "recipient", "body", "parts", "cost", "subject", "options")
    CONSTANT_COLUMNS: Final = (
        "account_id", "sending_id", "channel", "sender", "encoding", "status", "scheduled_at", "expires_at",
        "due_at", "notification_url", "certified", *INITIAL_COLUMNS,
    )  # fmt: skip

    def __init__(
        self,
        sending: Sending,
        renderer: _Renderer,
        status: str,
        due_at: datetime,
        now: datetime,
        extra_options: Mapping[str, Any] | None = None,
    ):
        options = sending.options
        constants = (
            sending.account_id,
            sending.pk,
            sending.channel,
            options.get("sender", ""),
            "" if renderer.is_mail else renderer.encoding,
            status,
            sending.scheduled_at,
            sending.expires_at,
            due_at,
            options.get("notification_url") or "",
            bool(options.get("certified")),
            0, "", "", "", "", "", now, now,
        )  # fmt: skip
        self.suffix = "\t" + "\t".join(copy_value(value) for value in constants) + "\n"
        self.is_mail = renderer.is_mail
        self.base_options = {**renderer.message_options, **(extra_options or {})}
        self.options_text = copy_value(self.base_options)
        self.statement = copy_statement(self.COLUMNS + self.CONSTANT_COLUMNS)
        self.lines: list[str] = []
        self.copy: Any = None  # psycopg's Copy while open() is active

    def add_rows(self, rows: list[tuple]) -> None:
        suffix = self.suffix
        if self.is_mail:
            base = self.base_options
            self.lines.extend(
                f"{public_id}\t{contact_id}\t{copy_text(recipient)}\t{copy_text(body)}\t{parts}\t{cost}\t"
                f"{copy_text(subject)}\t{copy_value(_mail_row_options(base, unsubscribe, text))}{suffix}"
                for public_id, contact_id, recipient, body, parts, cost, subject, unsubscribe, text in rows
            )
            return
        # SMS recipients are digits and the subject is empty: only the body can need escaping.
        middle = "\t\t" + self.options_text
        self.lines.extend(
            f"{public_id}\t{contact_id}\t{recipient}\t{copy_text(body)}\t{parts}\t{cost}{middle}{suffix}"
            for public_id, contact_id, recipient, body, parts, cost, _subject, _unsubscribe, _text in rows
        )

    @contextmanager
    def open(self) -> Iterator[None]:
        """One COPY for the flushes inside: each flush streams its lines to the server at once."""
        with connection.cursor() as cursor, cursor.cursor.copy(self.statement) as copy:
            self.copy = copy
            try:
                yield
            finally:
                self.copy = None

    def flush(self) -> None:
        if not self.lines:
            return
        if self.copy is not None:
            self.copy.write("".join(self.lines))
        else:
            with connection.cursor() as cursor, cursor.cursor.copy(self.statement) as copy:
                copy.write("".join(self.lines))
        self.lines = []


class _OrmSink:
    """The portable (SQLite) path: the same rows through bulk_create."""

    def __init__(
        self,
        sending: Sending,
        renderer: _Renderer,
        status: str,
        due_at: datetime,
        now: datetime,
        extra_options: Mapping[str, Any] | None = None,
    ):
        options = sending.options
        self.base_options = {**renderer.message_options, **(extra_options or {})}
        self.sending = sending
        self.renderer = renderer
        self.status, self.due_at = status, due_at
        self.sender = options.get("sender", "")
        self.notification_url = options.get("notification_url") or ""
        self.certified = bool(options.get("certified"))
        self.messages: list[NewMessage] = []

    def open(self) -> AbstractContextManager[None]:
        return nullcontext()

    def add_rows(self, rows: list[tuple]) -> None:
        renderer, sending = self.renderer, self.sending
        for public_id, contact_id, recipient, body, parts, cost, subject, unsubscribe, text in rows:
            options = _mail_row_options(self.base_options, unsubscribe, text) if renderer.is_mail else self.base_options
            self.messages.append(
                NewMessage(
                    public_id=public_id,
                    account_id=sending.account_id,
                    sending_id=sending.pk,
                    contact_id=contact_id,
                    channel=sending.channel,
                    sender=self.sender,
                    recipient=recipient,
                    subject=subject,
                    body=body,
                    encoding="" if renderer.is_mail else renderer.encoding,
                    parts=parts,
                    options=options,
                    status=self.status,
                    scheduled_at=sending.scheduled_at,
                    expires_at=sending.expires_at,
                    due_at=self.due_at,
                    cost=Decimal(cost),
                    notification_url=self.notification_url,
                    certified=self.certified,
                )
            )

    def flush(self) -> None:
        messages_insert(self.messages)
        self.messages = []
