"""Reads on contacts, groups, custom fields and the blacklist, always within one account.

Filters take values as a user typed them and compare them in the stored, normalised form; a value
that cannot be a phone number or country raises `ValidationError` rather than matching nothing.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import Account
from contacts.models import BlacklistEntry, Contact, CustomField, Group
from contacts.normalize import InvalidRecipient, normalise_phone, phone_lookup_key
from contacts.services import MAX_DATABASE_ID, blacklist_recipient_normalise, normalise_country_iso
from messaging.models import Message


@dataclass(frozen=True)
class ContactFilters:
    """Exact-match filters of the contact list; None means "any"."""

    email: str | None = None
    phone: str | None = None
    landline: str | None = None
    country_iso: str | None = None
    external_id: str | None = None


def contact_list(
    *, account: Account, filters: ContactFilters | None = None, with_groups: bool = False
) -> QuerySet[Contact]:
    contacts = Contact.objects.filter(account=account).order_by("id")
    filters = filters or ContactFilters()
    if filters.email is not None:
        contacts = contacts.filter(email=filters.email.strip().lower())
    for field in ("phone", "landline"):
        raw = getattr(filters, field)
        if raw is not None:
            keys = _phone_filter_keys(raw, filters.country_iso or account.country)
            if not keys:
                raise ValidationError(f"The {field} must be a valid phone number.")
            contacts = contacts.filter(**{f"{field}__in": keys})
    if filters.country_iso is not None:
        contacts = contacts.filter(country_iso=normalise_country_iso(filters.country_iso))
    if filters.external_id is not None:
        contacts = contacts.filter(external_id=filters.external_id.strip())
    if with_groups:
        contacts = contacts.prefetch_related(_groups_by_id())
    return contacts


def _phone_filter_keys(raw: str, country_iso: str | None) -> list[str]:
    """Stored forms a typed number can match: as international digits, and read as a national
    number of the filter's (or the account's) country, so `?landline=900222222` finds 34900222222."""
    keys = []
    for normalise in (phone_lookup_key, lambda value: normalise_phone(value, country_iso)):
        try:
            keys.append(normalise(raw))
        except InvalidRecipient:
            continue
    return sorted(set(keys))


def contact_get(*, account: Account, contact_id: int, with_groups: bool = False) -> Contact | None:
    if not 0 < contact_id <= MAX_DATABASE_ID:
        return None
    contacts = Contact.objects.filter(account=account, id=contact_id)
    if with_groups:
        contacts = contacts.prefetch_related(_groups_by_id())
    return contacts.first()


def _groups_by_id() -> Prefetch:
    return Prefetch("groups", queryset=Group.objects.order_by("id"))


def custom_field_types(*, account: Account) -> dict[str, str]:
    """`{key: type}` of the account's custom fields, read once per page of contacts."""
    return dict(CustomField.objects.filter(account=account).values_list("key", "type"))


def group_list(*, account: Account) -> QuerySet[Group]:
    return Group.objects.filter(account=account).order_by("id")


def group_get(*, account: Account, group_id: int) -> Group | None:
    if not 0 < group_id <= MAX_DATABASE_ID:
        return None
    return Group.objects.filter(account=account, id=group_id).first()


def blacklist_list(
    *, account: Account, type: str, recipient: str | None = None, sending_id: int | None = None
) -> QuerySet[BlacklistEntry]:
    entries = (
        BlacklistEntry.objects.filter(account=account, type=type).select_related("sending__campaign").order_by("id")
    )
    if recipient is not None:
        entries = entries.filter(recipient=blacklist_recipient_normalise(type=type, recipient=recipient))
    if sending_id is not None:
        entries = entries.filter(sending_id=sending_id) if 0 < sending_id <= MAX_DATABASE_ID else entries.none()
    return entries


def blacklist_contains(*, account: Account, type: str, recipient: str) -> bool:
    """Whether `recipient` (in any accepted spelling) is on the account's `type` blacklist; a value
    that cannot be a recipient is on no list."""
    try:
        normalised = blacklist_recipient_normalise(type=type, recipient=recipient)
    except ValidationError:
        return False
    return BlacklistEntry.objects.filter(account=account, type=type, recipient=normalised).exists()


def contact_search(
    *, account: Account, query: str = "", group_id: int | None = None, country_iso: str | None = None
) -> QuerySet[Contact]:
    """The web list's search: an email or phone number typed whole matches exactly through the
    unique indexes; other text matches name, surname or external id (contains, any case), which on
    PostgreSQL the trigram index of migration contacts/0002 serves: keep these lookups `icontains`
    on those three columns, or that index no longer matches. The result is paged by id, so a search
    that matches early stops early."""
    contacts = Contact.objects.filter(account=account)
    text = query.strip()
    if text:
        if "@" in text:
            contacts = contacts.filter(email=text.lower())
        elif sum(char.isdigit() for char in text) >= 6 and not any(char.isalpha() for char in text):
            keys = _phone_filter_keys(text, country_iso or account.country)
            contacts = contacts.filter(Q(phone__in=keys) | Q(landline__in=keys)) if keys else contacts.none()
        else:
            contacts = contacts.filter(
                Q(name__icontains=text) | Q(surname__icontains=text) | Q(external_id__icontains=text)
            )
    if group_id is not None:
        in_range = 0 < group_id <= MAX_DATABASE_ID
        contacts = contacts.filter(membership__group_id=group_id) if in_range else contacts.none()
    if country_iso:
        contacts = contacts.filter(country_iso=normalise_country_iso(country_iso))
    return contacts


def group_list_with_sizes(*, account: Account) -> QuerySet[Group]:
    """The account's groups with `size` (members), one grouped query over membership_group_contact."""
    return Group.objects.filter(account=account).annotate(size=Count("membership")).order_by("name")


def contact_messages(*, account: Account, contact: Contact) -> QuerySet[Message]:
    """The messages sent to a contact (to be paged by id), with their sending and campaign."""
    return Message.objects.filter(account=account, contact=contact).select_related("sending__campaign")
