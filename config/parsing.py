"""Reading loosely typed values the way the reference spec writes them, for every layer.

No DRF, no Django: the domain (content, otp, the send services) parses with these without importing
the API conventions module (config.api re-exports them for the API views).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def parse_boolean(value: Any) -> bool | None:
    """The spec's booleans: true/false, 1/0, "1"/"0", "true"/"false"; None for anything else."""
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    return None


def parse_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def parse_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None
