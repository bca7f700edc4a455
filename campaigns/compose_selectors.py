"""Reads behind the compose page: who a send would reach (after the blacklist), how a message
renders for one sample recipient, how an SMS is encoded and split, and what it would cost.

They answer before anything is sent, with the same building blocks the send services use
(contacts.normalize, messaging.rendering through campaigns.services.template_compile,
messaging.encoding, campaigns.pricing), so the preview and the send cannot disagree on a rule.
"""

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Account
from campaigns.models import Channel
from campaigns.personalisation import contact_values, html_escaped
from campaigns.pricing import COST_QUANTUM, phone_country, sms_price_table
from campaigns.sending import suppress
from campaigns.sending.channels import address_column, blacklist_type
from campaigns.sending.suppress import BlacklistRule
from campaigns.services import MAX_RECIPIENTS, OTP_RESERVED, SUPPORTED_RESERVED, SendError, template_compile
from compliance.protocol import Candidate, Purpose, RuleContext
from contacts.models import BlacklistEntry, Contact, Membership
from contacts.normalize import InvalidRecipient, normalise_email, normalise_phone
from messaging import encoding as sms_encoding

SAMPLE_LIMIT: Final = 10
AUTO_ENCODING: Final = "auto"
ENCODING_LABELS: Final = {sms_encoding.GSM: "GSM-7", sms_encoding.GSM_PT: "GSM-PT", sms_encoding.UTF_16: "UTF-16"}
_SEPARATORS = re.compile(r"[\s,;]+")
_CONTACT_COLUMNS: Final = ("id", "name", "surname", "email", "phone", "landline", "country_iso", "external_id")


def pasted_split(text: str) -> list[str]:
    return [item for item in _SEPARATORS.split(text or "") if item]


def recipient_normalise(*, account: Account, channel: str, raw: str) -> str:
    """A typed phone (national numbers read in the account's country) or email, as stored."""
    if channel == Channel.MAILING:
        return normalise_email(raw)
    return normalise_phone(raw, account.country)


# ---------------------------------------------------------------------------------------------
# Audience


@dataclass
class Audience:
    channel: str
    found: int = 0  # addresses considered (group members with the channel's address, typed items)
    invalid: list[str] = field(default_factory=list)  # typed items that are no phone / email
    without_address: int = 0  # chosen contacts lacking the channel's address
    duplicates: int = 0
    blacklisted: int = 0
    sendable: int = 0
    countries: Counter = field(default_factory=Counter)  # sendable recipients per country (SMS pricing)
    samples: list[tuple[str, str]] = field(default_factory=list)  # (sample key, label)
    addresses: list[str] = field(default_factory=list)  # explicit sends: the normalised `to` list


def _label(row: dict[str, Any], column: str) -> str:
    name = " ".join(part for part in (row.get("name"), row.get("surname")) if part)
    return f"{name} <{row[column]}>" if name else str(row[column])


def _rule_context(*, account: Account, channel: str) -> RuleContext:
    return suppress.context(account_id=account.pk, channel=channel, purpose=Purpose.MARKETING, now=timezone.now())


def audience_for_groups(*, account: Account, channel: str, group_ids: Sequence[int] | None) -> Audience:
    """Contacts of `group_ids` (None: every contact) with the channel's address, less the channel's
    blacklist: the recipients a group send's fan-out writes.

    One grouped query: the blacklist as a LEFT JOIN (its (account, type, recipient) key is unique,
    so it never doubles a row) and the groups as a semi-join, both hashed by PostgreSQL; the ORM's
    EXISTS inside a filtered COUNT would probe the blacklist once per contact.
    """
    column = address_column(channel)
    contact, blacklist, membership = (
        Contact._meta.db_table,
        BlacklistEntry._meta.db_table,
        Membership._meta.db_table,
    )
    sql = (
        f"SELECT c.country_iso, COUNT(*), COUNT(b.id) FROM {contact} c "  # noqa: S608 - table names, not input
        f"LEFT JOIN {blacklist} b ON b.account_id = c.account_id AND b.type = %s AND b.recipient = c.{column} "
        f"WHERE c.account_id = %s AND c.{column} IS NOT NULL"
    )
    params: list[Any] = [blacklist_type(channel), account.pk]
    if group_ids is not None:
        marks = ", ".join(["%s"] * len(group_ids)) or "NULL"
        sql += f" AND EXISTS (SELECT 1 FROM {membership} m WHERE m.contact_id = c.id AND m.group_id IN ({marks}))"  # noqa: S608
        params.extend(group_ids)
    sql += " GROUP BY c.country_iso"
    audience = Audience(channel=channel)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for country, total, blacklisted in cursor.fetchall():
            audience.found += total
            audience.blacklisted += blacklisted
            audience.countries[country] += total - blacklisted
    audience.sendable = audience.found - audience.blacklisted
    members = Contact.objects.filter(account=account, **{f"{column}__isnull": False})
    if group_ids is not None:
        members = members.filter(
            Exists(Membership.objects.filter(contact_id=OuterRef("pk"), group_id__in=list(group_ids)))
        )
    exclusion = BlacklistRule().exclusion(_rule_context(account=account, channel=channel), column=column)
    if exclusion is not None:
        members = members.exclude(exclusion)
    samples = members.order_by("pk").values(*_CONTACT_COLUMNS)[:SAMPLE_LIMIT]
    audience.samples = [(f"c{row['id']}", _label(row, column)) for row in samples]
    return audience


def audience_for_list(*, account: Account, channel: str, contact_ids: Sequence[int], pasted: str) -> Audience:
    """Chosen contacts plus typed numbers / addresses: normalised, de-duplicated and checked
    against the blacklist the way sms_send / mailing_send refuse them (invalid, duplicate and
    blacklisted recipients are each refused with 102)."""
    column = address_column(channel)
    audience = Audience(channel=channel)
    keys: list[str] = []
    chosen = list(
        Contact.objects.filter(account=account, pk__in=list(contact_ids)[:MAX_RECIPIENTS]).values(*_CONTACT_COLUMNS)
    )
    for row in chosen:
        if row[column]:
            keys.append(row[column])
        else:
            audience.without_address += 1
    for raw in pasted_split(pasted):
        try:
            keys.append(recipient_normalise(account=account, channel=channel, raw=raw))
        except InvalidRecipient:
            audience.invalid.append(raw)
    audience.found = len(keys)
    # The send's own blacklist rule (campaigns.sending.suppress), over each distinct address once.
    distinct = list(dict.fromkeys(keys))
    verdicts = BlacklistRule().judge(
        _rule_context(account=account, channel=channel),
        [Candidate(contact_id=None, address=key, country=None) for key in distinct],
    )
    listed = {distinct[index] for index in verdicts}
    seen: set[str] = set()
    for key in keys:
        if key in listed:
            audience.blacklisted += 1
        elif key in seen:
            audience.duplicates += 1
        else:
            seen.add(key)
            audience.addresses.append(key)
            audience.countries[phone_country(key) if channel != Channel.MAILING else None] += 1
    audience.sendable = len(audience.addresses)
    by_key = {row[column]: row for row in chosen if row[column]}
    known = dict(
        Contact.objects.filter(account=account, **{f"{column}__in": audience.addresses[:SAMPLE_LIMIT]}).values_list(
            column, "pk"
        )
    )
    for key in audience.addresses[:SAMPLE_LIMIT]:
        row = by_key.get(key)
        if row is not None:
            audience.samples.append((f"c{row['id']}", _label(row, column)))
        elif key in known:
            audience.samples.append((f"c{known[key]}", key))
        else:
            audience.samples.append((f"a{key}", key))
    return audience


def audience_cost_per_part(*, account: Account, audience: Audience) -> Decimal:
    """What one SMS part to every sendable recipient costs (multiply by the message's parts)."""
    if audience.channel == Channel.MAILING:
        return Decimal(0)
    prices = sms_price_table(account=account)
    return sum((prices.cost(country, 1) * count for country, count in audience.countries.items()), Decimal(0)).quantize(
        COST_QUANTUM
    )


# ---------------------------------------------------------------------------------------------
# Preview and SMS counter


def sample_values(*, account: Account, channel: str, sample: str) -> tuple[dict[str, Any], str]:
    """(substitution values, label) of a sample key from the audience: `c<id>` is one of the
    account's contacts, `a<address>` a typed address without a contact. Unknown keys give ({}, "")."""
    if sample.startswith("c") and sample[1:].isdigit():
        row = (
            Contact.objects.filter(account=account, pk=int(sample[1:]))
            .values(*_CONTACT_COLUMNS, "custom_fields")
            .first()
        )
        if row is not None:
            return contact_values(row), _label(row, address_column(channel)) if row[address_column(channel)] else ""
        return {}, ""
    if sample.startswith("a") and len(sample) > 1:
        try:
            key = recipient_normalise(account=account, channel=channel, raw=sample[1:])
        except InvalidRecipient:
            return {}, ""
        return contact_values({address_column(channel): key}), key
    return {}, ""


def encoding_pick(text: str) -> str:
    """The cheapest encoding that carries every character: GSM-7, else GSM-PT, else UTF-16."""
    for encoding in (sms_encoding.GSM, sms_encoding.GSM_PT):
        if not sms_encoding.non_gsm_characters(text, encoding):
            return encoding
    return sms_encoding.UTF_16


def encoding_resolve(requested: str, text: str) -> str:
    return encoding_pick(text) if requested in ("", AUTO_ENCODING) else requested


@dataclass(frozen=True)
class SmsCount:
    encoding: str
    label: str
    characters: int
    units: int
    parts: int
    per_part_limit: int
    left_in_part: int
    unsupported: list[str]  # characters the chosen encoding cannot carry (the send refuses them: 113)
    forcing_utf16: list[str]  # characters that rule out both 7-bit sets
    trans_changes: list[tuple[str, str]]  # (character, what trans=1 turns it into)
    trans_encoding: str  # the encoding `auto` would pick after trans
    trans_parts: int

    def as_json(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "label": self.label,
            "characters": self.characters,
            "units": self.units,
            "parts": self.parts,
            "perPartLimit": self.per_part_limit,
            "leftInPart": self.left_in_part,
            "unsupported": self.unsupported,
            "forcingUtf16": self.forcing_utf16,
            "trans": {
                "changes": [[before, after] for before, after in self.trans_changes],
                "encoding": self.trans_encoding,
                "label": ENCODING_LABELS[self.trans_encoding],
                "parts": self.trans_parts,
            },
        }


def sms_count(text: str, *, requested_encoding: str = AUTO_ENCODING, trans: bool = False) -> SmsCount:
    """The counter of the compose page for `text` as it would go out (after `trans` when set)."""
    original = text
    if trans:
        text = sms_encoding.translate(text)
    encoding = encoding_resolve(requested_encoding, text)
    measured = sms_encoding.measure(text, encoding)
    forcing = (
        sms_encoding.non_gsm_characters(text, sms_encoding.GSM) if encoding_pick(text) == sms_encoding.UTF_16 else []
    )
    changes = [(char, sms_encoding.translate(char)) for char in dict.fromkeys(original)]
    translated = sms_encoding.translate(original)
    trans_encoding = encoding_pick(translated)
    return SmsCount(
        encoding=encoding,
        label=ENCODING_LABELS[encoding],
        characters=len(text),
        units=measured.units,
        parts=measured.parts,
        per_part_limit=measured.per_part_limit,
        left_in_part=measured.chars_left_in_part,
        unsupported=list(measured.unsupported),
        forcing_utf16=forcing,
        trans_changes=[(before, after) for before, after in changes if before != after],
        trans_encoding=trans_encoding,
        trans_parts=sms_encoding.measure(translated, trans_encoding).parts,
    )


@dataclass(frozen=True)
class Preview:
    body: str = ""
    subject: str = ""
    sample_label: str = ""
    sms: SmsCount | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _reserved_supported(channel: str) -> frozenset[str]:
    """The reserved placeholders the channel's send service fills (the preview refuses the rest
    with the same words)."""
    if channel == Channel.LANDING:
        return SUPPORTED_RESERVED | {"LAND_URL"}
    return SUPPORTED_RESERVED | OTP_RESERVED


def _sample_landing_url() -> str:
    """A short link of the real length, so the counter charges {LAND_URL} what it will cost."""
    from tracking.services import code_generate, short_url

    return short_url(code_generate())


def message_preview(
    *,
    account: Account,
    channel: str,
    message: str,
    subject: str = "",
    sample: str = "",
    encoding: str = AUTO_ENCODING,
    trans: bool = False,
) -> Preview:
    """The message rendered for one sample recipient (placeholders filled from the contact, as the
    send does; {LAND_URL} becomes a link of the real length, other reserved links stay as written)
    and, for SMS and landing SMS, its counter."""
    values, label = sample_values(account=account, channel=channel, sample=sample) if sample else ({}, "")
    if channel == Channel.LANDING:
        values = {**values, "LAND_URL": _sample_landing_url()}
    errors: dict[str, str] = {}
    mail = channel == Channel.MAILING
    body_field = "body" if mail else "message"
    body = message
    try:
        template = template_compile(message, field=body_field, supported=_reserved_supported(channel))
        body = template.render(html_escaped(values) if mail else values) if values else message
    except SendError as exc:
        errors[body_field] = exc.description
    rendered_subject = subject
    if mail and subject:
        try:
            rendered_subject = template_compile(subject, field="subject").render(values) if values else subject
        except SendError as exc:
            errors["subject"] = exc.description
    sms = None if mail else sms_count(body, requested_encoding=encoding, trans=trans)
    if sms is not None and trans:
        body = sms_encoding.translate(body)
    return Preview(body=body, subject=rendered_subject, sample_label=label, sms=sms, errors=errors)
