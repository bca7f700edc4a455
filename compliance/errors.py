"""Errors the compliance rules raise for a caller to turn into its own answer (the API's 422, a message
beside a field on the compose page)."""

from __future__ import annotations


class ComplianceRefused(Exception):
    """A send the compliance rules refuse: `reason` is a stable code (e.g. "public_shortener"), `field` the
    request field or setting at fault (e.g. "message", "stop_code"), `detail` the sentence to show."""

    def __init__(self, reason: str, field: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.field = field
        self.detail = detail

    def __repr__(self) -> str:
        return f"ComplianceRefused({self.reason!r}, {self.field!r}, {self.detail!r})"
