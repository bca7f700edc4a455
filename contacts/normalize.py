"""Normalisation of recipients, shared by the API, imports, sends and blacklist checks, so the
same person is always stored and compared in the same form."""

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_PHONE_NOISE = re.compile(r"[\s\-().]")


class InvalidRecipient(ValueError):
    """The value cannot be a recipient; the message says why in plain words."""


def normalise_phone(raw: str, country_iso: str | None) -> str:
    """International digits without '+' (`34666555444`), validated with phonenumbers.

    Accepts national numbers (read in `country_iso`), `+`/`00` international ones, and bare
    international digits such as `34666555444`.
    """
    text = _PHONE_NOISE.sub("", str(raw or ""))
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text or not re.fullmatch(r"\+?\d{3,17}", text):
        raise InvalidRecipient("must be a valid phone number")
    region = (country_iso or "").upper() or None
    candidates = [text] if text.startswith("+") else [text, "+" + text]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, None if candidate.startswith("+") else region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return f"{number.country_code}{number.national_number}"
    raise InvalidRecipient("must be a valid phone number")


def phone_lookup_key(raw: str) -> str:
    """Digits of an already-international number, for filters and blacklist entries whose
    country is unknown: strips `+`, `00`, spaces and punctuation, keeps 6 to 15 digits (E.164)."""
    text = _PHONE_NOISE.sub("", str(raw or ""))
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if not re.fullmatch(r"\d{6,15}", text):
        raise InvalidRecipient("must be a phone number in international format, such as 34666555444")
    return text


def normalise_email(raw: str) -> str:
    """Syntax-checked, lower-cased address (no DNS lookup: deliverability is the validation jobs' work)."""
    try:
        result = validate_email(str(raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRecipient("must be a valid email address") from exc
    return result.normalized.lower()
