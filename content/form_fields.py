"""The form annex: element types, how a form definition is validated, and how a recipient's
submitted values are checked and typed.

A definition error is a `FormDefinitionError` naming the offending key as the API writes it
(`formFields.2.label`), so the API answers the first problem in plain words and the staff form
builder shows it beside the field it belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django_countries import countries

from config.parsing import parse_boolean
from contacts.custom_fields import valid_key
from contacts.models import CustomFieldType

HEADING_TYPES: Final = ("h1", "h2", "h3", "h4", "p", "blockquote")
INPUT_TYPES: Final = (
    "text", "password", "email", "number", "textarea", "date", "color", "countrySelector", "select", "radio",
    "checkbox",
)  # fmt: skip
ELEMENT_TYPES: Final = HEADING_TYPES + INPUT_TYPES
OPTION_TYPES: Final = frozenset({"select", "radio"})
PLACEHOLDER_TYPES: Final = frozenset({"text", "password", "email", "number", "textarea", "date", "color"})
# The custom-field type a submitted value is stored with (a new key is created with it).
CUSTOM_FIELD_TYPE: Final[dict[str, str]] = {
    "number": CustomFieldType.DECIMAL,
    "checkbox": CustomFieldType.DECIMAL,
    "date": CustomFieldType.DATE,
}
MAX_FIELDS: Final = 100
MAX_OPTIONS: Final = 200
MAX_TEXT: Final = 1000
MAX_LABEL: Final = 1000
_COLOR: Final = re.compile(r"#[0-9a-fA-F]{6}")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


class FormDefinitionError(ValidationError):
    """A form definition problem; `path` is the key it belongs to (`name`, `formFields.1.options`)."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path


def _text(item: dict, key: str, path: str, *, required: bool, max_length: int = 255) -> str:
    value = item.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FormDefinitionError(path, f"The {path} field is required.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FormDefinitionError(path, f"The {path} must be a string.")
    text = str(value).strip()
    if len(text) > max_length:
        raise FormDefinitionError(path, f"The {path} may not be greater than {max_length} characters.")
    if "\x00" in text:  # PostgreSQL jsonb cannot hold it: refused here, never a 500 at INSERT
        raise FormDefinitionError(path, f"The {path} may not contain NUL characters.")
    return text


def _flag(item: dict, key: str, path: str) -> bool:
    value = item.get(key)
    if value is None:
        return False
    if (parsed := parse_boolean(value)) is None:
        raise FormDefinitionError(path, f"The {path} field must be true or false.")
    return parsed


def form_fields_clean(raw: Any) -> list[dict[str, Any]]:
    """The annex elements of `raw` in their stored form (only the keys each type uses); raises
    FormDefinitionError for the first problem."""
    if raw is None:
        raise FormDefinitionError("formFields", "The formFields field is required.")
    if not isinstance(raw, list):
        raise FormDefinitionError("formFields", "The formFields must be an array.")
    if not raw:
        raise FormDefinitionError("formFields", "The formFields must have at least 1 item.")
    if len(raw) > MAX_FIELDS:
        raise FormDefinitionError("formFields", f"The formFields may not have more than {MAX_FIELDS} items.")
    cleaned: list[dict[str, Any]] = []
    keys: set[str] = set()
    for index, item in enumerate(raw):
        prefix = f"formFields.{index}"
        if not isinstance(item, dict):
            raise FormDefinitionError(prefix, f"The {prefix} must be an object.")
        element_type = item.get("type")
        if element_type not in ELEMENT_TYPES:
            raise FormDefinitionError(f"{prefix}.type", f"The selected {prefix}.type is invalid.")
        label = _text(item, "label", f"{prefix}.label", required=True, max_length=MAX_LABEL)
        if element_type in HEADING_TYPES:
            cleaned.append({"type": element_type, "label": label})
            continue
        field: dict[str, Any] = {
            "type": element_type,
            "label": label,
            "required": _flag(item, "required", f"{prefix}.required"),
            "description": _text(item, "description", f"{prefix}.description", required=False, max_length=MAX_TEXT),
        }
        if element_type in PLACEHOLDER_TYPES:
            field["placeholder"] = _text(item, "placeholder", f"{prefix}.placeholder", required=False)
        key = _text(item, "customField", f"{prefix}.customField", required=True, max_length=64)
        if not valid_key(key):
            raise FormDefinitionError(
                f"{prefix}.customField",
                f"The {prefix}.customField may only contain letters, digits, _ . - (at most 64 characters).",
            )
        if key in keys:
            raise FormDefinitionError(f"{prefix}.customField", f"The {prefix}.customField is used twice in the form.")
        keys.add(key)
        field["customField"] = key
        if element_type == "textarea":
            field["rows"] = _rows(item.get("rows"), f"{prefix}.rows")
        if element_type in OPTION_TYPES:
            field["options"] = _options(item.get("options"), f"{prefix}.options")
        cleaned.append(field)
    return cleaned


def _rows(raw: Any, path: str) -> int:
    if raw is None or raw == "":
        return 3
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 50:
        raise FormDefinitionError(path, f"The {path} must be an integer between 1 and 50.")
    return raw


def _options(raw: Any, path: str) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise FormDefinitionError(path, f"The {path} must be an array with at least one option.")
    if len(raw) > MAX_OPTIONS:
        raise FormDefinitionError(path, f"The {path} may not have more than {MAX_OPTIONS} items.")
    options, values = [], set()
    for index, option in enumerate(raw):
        option_path = f"{path}.{index}"
        if not isinstance(option, dict):
            raise FormDefinitionError(path, f"The {option_path} must be an object with label and value.")
        label = _text(option, "label", f"{option_path}.label", required=True)
        value = _text(option, "value", f"{option_path}.value", required=True)
        if value in values:
            raise FormDefinitionError(path, f"The {option_path}.value is repeated.")
        values.add(value)
        options.append({"label": label, "value": value})
    return options


def custom_field_conflicts(fields: list[dict[str, Any]], known_types: dict[str, str]) -> None:
    """Refuse an element whose values cannot go into the account's existing custom field (a text
    input into a decimal field); string fields take any value."""
    for index, field in enumerate(fields):
        key = field.get("customField")
        if key is None or key not in known_types:
            continue
        needed = CUSTOM_FIELD_TYPE.get(field["type"], CustomFieldType.STRING)
        existing = known_types[key]
        if existing not in (needed, CustomFieldType.STRING):
            path = f"formFields.{index}.customField"
            raise FormDefinitionError(
                path, f"The {path} {key} is a {existing} custom field; a {field['type']} element stores {needed}."
            )


# ---------------------------------------------------------------------------------------------
# Submissions


@dataclass(frozen=True)
class SubmittedValue:
    key: str  # the custom field
    value: str
    type: str  # the custom-field type it is stored with


def country_choices() -> list[tuple[str, str]]:
    return list(countries)


def submission_clean(fields: list[dict[str, Any]], data: Any) -> tuple[list[SubmittedValue], dict[str, str]]:
    """(values to store, errors by custom field) for the posted `data` (a QueryDict or a dict of
    strings). Optional fields left empty are not stored; an unchecked checkbox stores 0."""
    values: list[SubmittedValue] = []
    errors: dict[str, str] = {}
    for field in fields:
        element_type = field["type"]
        if element_type in HEADING_TYPES:
            continue
        key = field["customField"]
        raw = data.get(key)
        text = raw.strip() if isinstance(raw, str) else ""
        field_type = CUSTOM_FIELD_TYPE.get(element_type, CustomFieldType.STRING)
        if element_type == "checkbox":
            checked = text not in ("", "0", "false", "off")
            if field.get("required") and not checked:
                errors[key] = "Please tick this box to continue."
                continue
            values.append(SubmittedValue(key, "1" if checked else "0", field_type))
            continue
        if not text:
            if field.get("required"):
                errors[key] = "This field is required."
            continue
        problem = _value_problem(field, text)
        if problem:
            errors[key] = problem
            continue
        if element_type == "number":
            text = format(Decimal(text), "f")
        elif element_type == "countrySelector":
            text = text.upper()
        values.append(SubmittedValue(key, text, field_type))
    return values, errors


def _value_problem(field: dict[str, Any], text: str) -> str | None:
    element_type = field["type"]
    if len(text) > MAX_TEXT:
        return f"At most {MAX_TEXT} characters."
    if "\x00" in text:  # the contact's custom fields (jsonb) cannot hold it
        return "Remove the NUL character from this value."
    if element_type == "email":
        try:
            validate_email(text)
        except ValidationError:
            return "Enter a valid email address."
    elif element_type == "number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            return "Enter a number."
        if not number.is_finite():
            return "Enter a number."
    elif element_type == "date":
        if not _DATE.fullmatch(text):
            return "Enter a date as YYYY-MM-DD."
        try:
            date.fromisoformat(text)
        except ValueError:
            return "Enter a real date."
    elif element_type == "color":
        if not _COLOR.fullmatch(text):
            return "Enter a colour as #rrggbb."
    elif element_type == "countrySelector":
        if text.upper() not in dict(countries):
            return "Choose a country from the list."
    elif element_type in OPTION_TYPES and text not in {option["value"] for option in field.get("options", [])}:
        return "Choose one of the options."
    return None
