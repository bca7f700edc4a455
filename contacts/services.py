"""Writes on contacts, groups, custom fields and the blacklist.

The REST API, contact imports and the admin all go through these functions, so every rule
(normalisation, uniqueness, group resolution, custom-field typing) has one implementation.
Rule violations raise Django's `ValidationError` with one plain sentence in the REST API's
wording (its field names: `countryIso`, `groupsIds`, `customFields.0.value`...); the API answers
it as 422 and imports record it as the row's error. Every write runs in one transaction, so a
rejected call changes nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Account
from campaigns.models import Sending
from contacts.custom_fields import InvalidCustomValue, coerce_custom_value, valid_key
from contacts.models import BlacklistEntry, BlacklistType, Contact, CustomField, CustomFieldType, Group
from contacts.normalize import InvalidRecipient, normalise_email, normalise_phone, phone_lookup_key

# Largest value of a PostgreSQL bigint: ids beyond it cannot exist, and asking the database
# about them would be an error rather than "not found".
MAX_DATABASE_ID: Final = 2**63 - 1
NAME_MAX_LENGTH: Final = 255


class _Unset:
    """Marks an argument of a partial update that the caller did not send (None means "clear")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@dataclass(frozen=True)
class CustomFieldInput:
    """One `{key, type?, value}` item as received; `type` None means the field's existing type
    or, for a new key, string."""

    key: str
    value: Any
    type: str | None = None


# ---------------------------------------------------------------------------------------------
# Shared normalisation


def normalise_country_iso(raw: str | None) -> str | None:
    """Upper-case ISO 3166 alpha-2 code that phonenumbers knows, or None when blank."""
    if raw is None or not str(raw).strip():
        return None
    code = str(raw).strip().upper()
    if len(code) != 2 or code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError("The selected countryIso is invalid.")
    return code


def blacklist_recipient_normalise(*, type: str, recipient: Any) -> str:
    """A blacklist recipient in the stored form: lower-case email for mailing, international
    digits for sms and voice. The country of a blacklisted number is unknown, so numbers must
    already be international (`99000000000`, `+34 666 555 444`)."""
    if recipient is None or not str(recipient).strip():
        raise ValidationError("The recipient field is required.")
    if isinstance(recipient, bool) or not isinstance(recipient, str | int):
        raise ValidationError("The recipient must be a string.")
    try:
        if type == BlacklistType.MAILING:
            return normalise_email(str(recipient))
        return phone_lookup_key(str(recipient))
    except InvalidRecipient as exc:
        kind = "email address" if type == BlacklistType.MAILING else "phone number"
        raise ValidationError(f"The recipient must be a valid {kind}.") from exc


# ---------------------------------------------------------------------------------------------
# Contacts


def contact_create(
    *,
    account: Account,
    email: str | None = None,
    phone: str | None = None,
    landline: str | None = None,
    country_iso: str | None = None,
    name: str | None = None,
    surname: str | None = None,
    external_id: str | None = None,
    groups_ids: Sequence[int] | None = None,
    groups_names: Sequence[str] | None = None,
    custom_fields: Sequence[CustomFieldInput] | None = None,
    groups_required: bool = True,
) -> Contact:
    """A new contact in the given groups (`groups_names` that do not exist are created).

    The API requires at least one group (`groups_required`); imports and the admin may not.
    """
    contact = Contact(account=account)
    changes = {
        "email": email,
        "phone": phone,
        "landline": landline,
        "country_iso": country_iso,
        "name": name,
        "surname": surname,
        "external_id": external_id,
    }
    return _contact_write(
        contact=contact,
        changes=changes,
        groups_ids=groups_ids,
        groups_names=groups_names,
        replace_groups=True,
        groups_required=groups_required,
        custom_fields=custom_fields,
    )


def contact_update(
    *,
    contact: Contact,
    email: str | _Unset | None = UNSET,
    phone: str | _Unset | None = UNSET,
    landline: str | _Unset | None = UNSET,
    country_iso: str | _Unset | None = UNSET,
    name: str | _Unset | None = UNSET,
    surname: str | _Unset | None = UNSET,
    external_id: str | _Unset | None = UNSET,
    groups_ids: Sequence[int] | _Unset | None = UNSET,
    groups_names: Sequence[str] | _Unset | None = UNSET,
    custom_fields: Sequence[CustomFieldInput] | _Unset | None = UNSET,
) -> Contact:
    """Partial update: only the arguments given change; None clears a field.

    The result must still satisfy the creation rules (an email, phone or landline; a country for
    phone numbers). Groups given replace the contact's membership; custom fields given are set
    and the others are kept.
    """
    given = {
        "email": email,
        "phone": phone,
        "landline": landline,
        "country_iso": country_iso,
        "name": name,
        "surname": surname,
        "external_id": external_id,
    }
    changes = {field: value for field, value in given.items() if value is not UNSET}
    replace_groups = groups_ids is not UNSET or groups_names is not UNSET
    return _contact_write(
        contact=contact,
        changes=changes,
        groups_ids=None if isinstance(groups_ids, _Unset) else groups_ids,
        groups_names=None if isinstance(groups_names, _Unset) else groups_names,
        replace_groups=replace_groups,
        groups_required=False,
        custom_fields=None if isinstance(custom_fields, _Unset) else custom_fields,
    )


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    contact.delete()


def _contact_write(
    *,
    contact: Contact,
    changes: dict[str, Any],
    groups_ids: Sequence[int] | None,
    groups_names: Sequence[str] | None,
    replace_groups: bool,
    groups_required: bool,
    custom_fields: Sequence[CustomFieldInput] | None,
) -> Contact:
    values = _contact_values(contact=contact, changes=changes)
    if groups_required and not groups_ids and not groups_names:
        raise ValidationError("The groupsIds field is required when groupsNames is not present.")
    try:
        with transaction.atomic():
            groups = (
                groups_resolve(account=contact.account, ids=groups_ids, names=groups_names) if replace_groups else None
            )
            custom_values = custom_fields_apply(
                account=contact.account, values=contact.custom_fields or {}, items=custom_fields or []
            )
            for field, value in values.items():
                setattr(contact, field, value)
            contact.custom_fields = custom_values
            contact.save()
            if groups is not None:
                contact.groups.set(groups)
    except IntegrityError as exc:
        # Two requests writing the same email or phone at once: the loser gets the same answer
        # as if the check above had seen the winner's row.
        message = _contact_integrity_message(exc)
        if message is None:
            raise
        raise ValidationError(message) from exc
    return contact


def _contact_values(*, contact: Contact, changes: dict[str, Any]) -> dict[str, Any]:
    """The normalised values to store for `changes`, checked against the merged contact."""
    values: dict[str, Any] = {}
    for field in ("name", "surname", "external_id"):
        if field in changes:
            values[field] = _optional_text(changes[field], label=_LABELS[field])
    for field in ("email", "phone", "landline", "country_iso"):
        if field in changes:
            raw = changes[field]
            values[field] = str(raw).strip() if raw is not None and str(raw).strip() else None

    def merged(field: str) -> Any:
        return values[field] if field in values else getattr(contact, field)

    if not (merged("email") or merged("phone") or merged("landline")):
        raise ValidationError("The email field is required when none of phone / landline are present.")
    if "country_iso" in values:
        values["country_iso"] = normalise_country_iso(values["country_iso"])
    country = merged("country_iso")
    with_numbers = [_LABELS[field] for field in ("phone", "landline") if merged(field)]
    if with_numbers and not country:
        raise ValidationError(f"The countryIso field is required when {' / '.join(with_numbers)} is present.")

    if values.get("email"):
        try:
            values["email"] = normalise_email(values["email"])
        except InvalidRecipient as exc:
            raise ValidationError("The email must be a valid email address.") from exc
    for field in ("phone", "landline"):
        if values.get(field):
            try:
                values[field] = normalise_phone(values[field], country)
            except InvalidRecipient as exc:
                raise ValidationError(f"The {field} must be a valid phone number.") from exc

    others = Contact.objects.filter(account=contact.account)
    if contact.pk is not None:
        others = others.exclude(pk=contact.pk)
    for field in ("email", "phone"):
        if values.get(field) and others.filter(**{field: values[field]}).exists():
            raise ValidationError(f"The {field} has already been taken.")
    return values


_LABELS: Final = {
    "email": "email",
    "phone": "phone",
    "landline": "landline",
    "country_iso": "countryIso",
    "name": "name",
    "surname": "surname",
    "external_id": "externalId",
}


def _optional_text(raw: Any, *, label: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValidationError(f"The {label} must be a string.")
    text = str(raw).strip()
    if len(text) > NAME_MAX_LENGTH:
        raise ValidationError(f"The {label} may not be greater than {NAME_MAX_LENGTH} characters.")
    return text or None


def _contact_integrity_message(exc: IntegrityError) -> str | None:
    for field in ("email", "phone"):
        if f"uniq_contact_{field}" in str(exc):
            return f"The {field} has already been taken."
    return None


# ---------------------------------------------------------------------------------------------
# Custom fields


def custom_fields_apply(
    *, account: Account, values: dict[str, str], items: Sequence[CustomFieldInput]
) -> dict[str, str]:
    """`values` (a contact's custom fields) with `items` set, as a new dict.

    A key the account does not know yet gets a definition of the item's type (string by default);
    a known key keeps its type, and an item asking for another type is rejected.
    """
    result = dict(values)
    if not items:
        return result
    first_index = {}
    for index, item in enumerate(items):
        if isinstance(item.key, str):
            first_index.setdefault(item.key.strip(), index)
    known = dict(CustomField.objects.filter(account=account, key__in=list(first_index)).values_list("key", "type"))
    new_types: dict[str, str] = {}
    for index, item in enumerate(items):
        prefix = f"customFields.{index}"
        key = item.key.strip() if isinstance(item.key, str) else ""
        if not key:
            raise ValidationError(f"The {prefix}.key field is required.")
        if not valid_key(key):
            raise ValidationError(f"The {prefix}.key format is invalid.")
        if item.type is not None and item.type not in CustomFieldType.values:
            raise ValidationError(f"The selected {prefix}.type is invalid.")
        existing_type = known.get(key) or new_types.get(key)
        if existing_type and item.type and item.type != existing_type:
            raise ValidationError(f"The {prefix}.type must be {existing_type}.")
        field_type = existing_type or item.type or CustomFieldType.STRING
        if item.value is None:
            raise ValidationError(f"The {prefix}.value field is required.")
        try:
            result[key] = coerce_custom_value(field_type, item.value)
        except InvalidCustomValue as exc:
            raise ValidationError(f"The {prefix}.value {exc}.") from exc
        if key not in known:
            new_types[key] = field_type
    if new_types:
        with transaction.atomic():
            CustomField.objects.bulk_create(
                [CustomField(account=account, key=key, type=field_type) for key, field_type in new_types.items()],
                ignore_conflicts=True,
            )
            # Another request may have defined one of these keys first, with another type.
            stored = dict(
                CustomField.objects.filter(account=account, key__in=list(new_types)).values_list("key", "type")
            )
        for key, field_type in new_types.items():
            if stored.get(key) != field_type:
                raise ValidationError(f"The customFields.{first_index[key]}.type must be {stored.get(key)}.")
    return result


# ---------------------------------------------------------------------------------------------
# Groups


def groups_resolve(
    *, account: Account, ids: Sequence[int] | None = None, names: Sequence[str] | None = None
) -> list[Group]:
    """The account's groups with these ids and names, in that order without repeats.

    An id the account does not own is rejected; a name it does not have yet becomes a new group.
    """
    ids = list(ids or [])
    names = [_group_name(name, label=f"groupsNames.{index}") for index, name in enumerate(names or [])]
    valid_ids = [group_id for group_id in ids if 0 < group_id <= MAX_DATABASE_ID]
    by_id = {group.id: group for group in Group.objects.filter(account=account, id__in=valid_ids)}
    for index, group_id in enumerate(ids):
        if group_id not in by_id:
            raise ValidationError(f"The selected groupsIds.{index} is invalid.")
    by_name: dict[str, Group] = {}
    if names:
        by_name = {group.name: group for group in Group.objects.filter(account=account, name__in=names)}
        missing = [name for name in dict.fromkeys(names) if name not in by_name]
        if missing:
            with transaction.atomic():
                # ignore_conflicts: a group created meanwhile by another request is simply reused.
                Group.objects.bulk_create(
                    [Group(account=account, name=name) for name in missing], ignore_conflicts=True
                )
            by_name.update({group.name: group for group in Group.objects.filter(account=account, name__in=missing)})
    resolved = [by_id[group_id] for group_id in ids] + [by_name[name] for name in names]
    return list({group.id: group for group in resolved}.values())


def group_create(*, account: Account, name: str) -> Group:
    name = _group_name(name, label="name")
    _group_name_must_be_free(account=account, name=name, group_id=None)
    try:
        with transaction.atomic():
            return Group.objects.create(account=account, name=name)
    except IntegrityError as exc:
        raise ValidationError("The name has already been taken.") from exc


def group_update(*, group: Group, name: str) -> Group:
    name = _group_name(name, label="name")
    _group_name_must_be_free(account=group.account, name=name, group_id=group.id)
    try:
        with transaction.atomic():
            group.name = name
            group.save(update_fields=["name"])
    except IntegrityError as exc:
        raise ValidationError("The name has already been taken.") from exc
    return group


@transaction.atomic
def group_delete(*, group: Group) -> None:
    """Delete the group; its members stay as contacts, outside the group."""
    group.delete()


def _group_name(raw: Any, *, label: str) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValidationError(f"The {label} field is required.")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValidationError(f"The {label} must be a string.")
    name = str(raw).strip()
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(f"The {label} may not be greater than {NAME_MAX_LENGTH} characters.")
    return name


def _group_name_must_be_free(*, account: Account, name: str, group_id: int | None) -> None:
    taken = Group.objects.filter(account=account, name=name)
    if group_id is not None:
        taken = taken.exclude(id=group_id)
    if taken.exists():
        raise ValidationError("The name has already been taken.")


# ---------------------------------------------------------------------------------------------
# Blacklist


def blacklist_add(
    *,
    account: Account,
    type: str,
    recipient: str,
    sending: Sending | None = None,
    is_definitive: bool = False,
) -> BlacklistEntry:
    """Put `recipient` on the account's `type` blacklist; idempotent.

    A recipient already listed keeps its entry (and its original sending); asking for a
    definitive entry makes an existing temporary one definitive, never the other way round.
    """
    if type not in BlacklistType.values:
        raise ValidationError("The selected type is invalid.")
    normalised = blacklist_recipient_normalise(type=type, recipient=recipient)
    entries = BlacklistEntry.objects.filter(account=account, type=type, recipient=normalised)
    entry = entries.select_related("sending__campaign").first()
    if entry is None:
        try:
            with transaction.atomic():
                entry = BlacklistEntry.objects.create(
                    account=account, type=type, recipient=normalised, sending=sending, is_definitive=is_definitive
                )
        except IntegrityError:
            entry = entries.select_related("sending__campaign").get()
    if is_definitive and not entry.is_definitive:
        entry.is_definitive = True
        entry.save(update_fields=["is_definitive"])
    return entry


@transaction.atomic
def blacklist_remove(*, account: Account, type: str, recipient: str) -> bool:
    """Take `recipient` off the account's `type` blacklist; False when it was not on it."""
    normalised = blacklist_recipient_normalise(type=type, recipient=recipient)
    deleted, _ = BlacklistEntry.objects.filter(account=account, type=type, recipient=normalised).delete()
    return deleted > 0
