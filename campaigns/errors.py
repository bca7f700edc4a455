"""The error every send path raises when it refuses a request (a leaf: it imports no service).

`SendError(code, description)` carries the reference spec's code (102-142, or 422 for a malformed
field); the API layer answers it in the error envelope. It lives here, not in campaigns.services,
so that selectors and the content app can raise it without importing the send services.
"""

from __future__ import annotations

from config.api import ERRORS


class SendError(Exception):
    """A send refused with one of the spec's codes (422: a malformed field)."""

    def __init__(self, code: int, description: str | None = None, *, retry_after: int | None = None):
        self.code = code
        self.description = description or ERRORS.get(code, (400, "Bad request"))[1]
        self.retry_after = retry_after  # seconds, for 429
        super().__init__(self.description)
