"""Typed custom-field values: one coercion used by the API, imports and the UI."""

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from contacts.models import CustomFieldType

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class InvalidCustomValue(ValueError):
    """The value does not fit the field's type; the message says why in plain words."""


def valid_key(key: str) -> bool:
    return bool(KEY_PATTERN.fullmatch(key or ""))


def coerce_custom_value(field_type: str, raw: object) -> str:
    """The canonical string stored for `raw` in a field of `field_type`.

    date: ISO 8601 date or date-time, stored as given after parsing (`2020-01-31`,
    `2020-01-31T10:00:00+00:00`); decimal: plain notation (`12.50`); string: as sent.
    """
    if raw is None or isinstance(raw, bool | dict | list):
        raise InvalidCustomValue("must be a string, number or date")
    text = str(raw).strip()
    if field_type == CustomFieldType.STRING:
        if len(text) > 1000:
            raise InvalidCustomValue("may not be greater than 1000 characters")
        return text
    if field_type == CustomFieldType.DECIMAL:
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise InvalidCustomValue("must be a decimal number") from exc
        if not value.is_finite():
            raise InvalidCustomValue("must be a decimal number")
        return format(value, "f")
    if field_type == CustomFieldType.DATE:
        try:
            if len(text) == 10:
                return date.fromisoformat(text).isoformat()
            return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
        except ValueError as exc:
            raise InvalidCustomValue("must be a date in ISO 8601 format") from exc
    raise InvalidCustomValue("has an unknown type")
