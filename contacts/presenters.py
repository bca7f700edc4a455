"""Contacts, groups and blacklist entries as the REST API's JSON objects (the spec's samples)."""

from collections.abc import Collection

from config.api import iso8601
from contacts.models import BlacklistEntry, Contact, CustomFieldType, Group

INCLUDE_CUSTOM_FIELDS = "customFields"
INCLUDE_GROUPS = "groups"
CONTACT_INCLUDES = frozenset({INCLUDE_CUSTOM_FIELDS, INCLUDE_GROUPS})


def contact_to_dict(
    contact: Contact, *, include: Collection[str] = (), field_types: dict[str, str] | None = None
) -> dict:
    """The list / show object; `customFields` and `groups` only when included.

    With `groups` included the contact's groups must be prefetched, and `field_types` (the
    account's `{key: type}`) is read once by the caller, so a page costs no query per contact.
    """
    data = {
        "id": contact.id,
        "email": contact.email,
        "phone": contact.phone,
        "countryIso": contact.country_iso,
        "landline": contact.landline,
        "name": contact.name,
        "surname": contact.surname,
        "createdAt": iso8601(contact.created_at),
        "updatedAt": iso8601(contact.updated_at),
    }
    if INCLUDE_CUSTOM_FIELDS in include:
        types = field_types or {}
        data["customFields"] = {
            "data": [
                {"key": key, "type": types.get(key, CustomFieldType.STRING), "value": value}
                for key, value in sorted((contact.custom_fields or {}).items())
            ]
        }
    if INCLUDE_GROUPS in include:
        data["groups"] = {"data": [group_to_dict(group) for group in contact.groups.all()]}
    return data


def contact_written_to_dict(contact: Contact, *, self_url: str) -> dict:
    """The create / update answer: the contact's own fields and a link to it."""
    data = contact_to_dict(contact)
    data["links"] = {"self": self_url}
    return data


def group_to_dict(group: Group) -> dict:
    return {"id": group.id, "name": group.name}


def blacklist_entry_to_dict(entry: BlacklistEntry) -> dict:
    """A blacklist list item; the entry's sending and campaign must be selected with it."""
    return {
        "type": entry.type,
        "recipient": entry.recipient,
        "isDefinitive": entry.is_definitive,
        "sendingId": entry.sending_id,
        "campaignName": _campaign_name(entry),
        "createdAt": iso8601(entry.created_at),
    }


def blacklist_entry_added_to_dict(entry: BlacklistEntry) -> dict:
    """The answer to adding a recipient, which the spec gives without `sendingId`."""
    return {
        "type": entry.type,
        "recipient": entry.recipient,
        "isDefinitive": entry.is_definitive,
        "campaignName": _campaign_name(entry),
        "createdAt": iso8601(entry.created_at),
    }


def _campaign_name(entry: BlacklistEntry) -> str | None:
    if entry.sending is None or entry.sending.campaign is None:
        return None
    return entry.sending.campaign.name
