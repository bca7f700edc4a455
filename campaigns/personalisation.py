"""Personalisation values: what a template's variables read from a contact, shared by list sends,
group fan-out chunks, the compose preview and the landing pages; and a marketing email's options.

The precedence is: the send's `sub` > the contact's custom fields > the contact's columns.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, Final

# Template variable -> Contact column. A custom field with the same key wins over the column.
CONTACT_FIELDS: Final[dict[str, str]] = {
    "name": "name",
    "surname": "surname",
    "email": "email",
    "phone": "phone",
    "landline": "landline",
    "countryIso": "country_iso",
    "country_iso": "country_iso",
    "externalId": "external_id",
    "external_id": "external_id",
}
CONTACT_VALUE_COLUMNS: Final = ("name", "surname", "email", "phone", "landline", "country_iso", "external_id")


def contact_values(contact: Mapping[str, Any]) -> dict[str, Any]:
    """A contact's substitution values from its columns (CONTACT_VALUE_COLUMNS + custom_fields)."""
    values = {
        variable: contact.get(column)
        for variable, column in CONTACT_FIELDS.items()
        if contact.get(column) not in (None, "")
    }
    values.update((contact.get("custom_fields") or {}).items())
    return values


def html_escaped(values: Mapping[str, Any]) -> dict[str, Any]:
    """Contact data is escaped before it goes into an HTML body: a name like `<b>` stays text."""
    return {key: html.escape(str(value)) if value is not None else None for key, value in values.items()}


def mail_options(base: Mapping[str, Any], unsubscribe: str) -> dict[str, Any]:
    """A marketing email's options with its one-click unsubscribe headers (RFC 8058)."""
    return {
        **base,
        "headers": {
            **(base.get("headers") or {}),
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
