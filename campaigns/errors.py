"""Why a send is refused, in domain terms, and the reference API's adapter (a leaf: no service import).

`SendRefused(reason, detail, field=...)` is what the send side means: a `Reason` (an enum every API
layer maps to its own code), the domain `field` it concerns (a SendRequest name such as "sender",
"recipients", "campaign_name"; None for the request as a whole) and a sentence for people. The staff
compose page places the sentence beside the form field named by `field`; a compatibility layer maps
`reason` to its own code and `field` to its own JSON path.

`SendError(code, description)` is the reference REST API's form of the same refusal: `code` is the
spec's number (102-142, or 422 for a malformed field), read from REFERENCE_CODES when it is built
from a reason. Existing callers keep raising and catching it with a code; each also carries its
reason and field. The default descriptions are the spec's Errors table (config.api.ERRORS).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from config.api import ERRORS


class Reason(StrEnum):
    NO_VALID_RECIPIENT = "no_valid_recipient"
    BLACKLISTED = "blacklisted"
    DUPLICATE = "duplicate"
    TEXT_MISSING = "text_missing"
    TEXT_TOO_LONG = "text_too_long"
    SENDER_MISSING = "sender_missing"
    SENDER_TOO_LONG = "sender_too_long"
    BAD_SEND_TIME = "bad_send_time"
    BAD_NOTIFICATION_URL = "bad_notification_url"
    BAD_PARTS = "bad_parts"
    NOT_ENOUGH_CREDIT = "not_enough_credit"
    BAD_ENCODING = "bad_encoding"
    BAD_SUBJECT = "bad_subject"
    SENDER_NOT_VERIFIED = "sender_not_verified"
    BAD_REPLY_TO = "bad_reply_to"
    REPLY_TO_NOT_VERIFIED = "reply_to_not_verified"
    BAD_EXPIRY = "bad_expiry"
    UNKNOWN_MESSAGE = "unknown_message"
    BAD_SCHEDULE = "bad_schedule"
    CAMPAIGN_NAME_EMPTY = "campaign_name_empty"
    TEMPLATE_MISSING = "template_missing"
    LANDING_PLACEHOLDER_MISSING = "landing_placeholder_missing"
    RATE_LIMITED = "rate_limited"
    INVALID = "invalid"  # a malformed field: `field` names it


# The reference API's code of each reason (the spec's Errors table).
REFERENCE_CODES: Final[dict[Reason, int]] = {
    Reason.NO_VALID_RECIPIENT: 102,
    Reason.BLACKLISTED: 102,
    Reason.DUPLICATE: 102,
    Reason.TEXT_MISSING: 104,
    Reason.TEXT_TOO_LONG: 105,
    Reason.SENDER_MISSING: 106,
    Reason.SENDER_TOO_LONG: 107,
    Reason.BAD_SEND_TIME: 108,
    Reason.BAD_NOTIFICATION_URL: 109,
    Reason.BAD_PARTS: 110,
    Reason.NOT_ENOUGH_CREDIT: 111,
    Reason.BAD_ENCODING: 113,
    Reason.BAD_SUBJECT: 114,
    Reason.SENDER_NOT_VERIFIED: 115,
    Reason.BAD_REPLY_TO: 116,
    Reason.REPLY_TO_NOT_VERIFIED: 117,
    Reason.BAD_EXPIRY: 119,
    Reason.UNKNOWN_MESSAGE: 120,
    Reason.BAD_SCHEDULE: 121,
    Reason.CAMPAIGN_NAME_EMPTY: 126,
    Reason.TEMPLATE_MISSING: 140,
    Reason.LANDING_PLACEHOLDER_MISSING: 141,
    Reason.RATE_LIMITED: 429,
    Reason.INVALID: 422,
}
# A code names its first reason (102: no valid recipient; blacklisted and duplicate say so themselves).
_REASON_OF_CODE: Final[dict[int, Reason]] = {}
for _reason, _code in REFERENCE_CODES.items():
    _REASON_OF_CODE.setdefault(_code, _reason)


class SendRefused(Exception):
    """A send (or one recipient of it) refused: the reason, the domain field, a sentence."""

    def __init__(
        self, reason: Reason, detail: str = "", *, field: str | None = None, retry_after: int | None = None
    ) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        self.retry_after = retry_after  # seconds, for RATE_LIMITED
        super().__init__(detail or reason.value)


class SendError(SendRefused):
    """The reference API's refusal: one of the spec's codes (422: a malformed field) and its description."""

    def __init__(
        self,
        code: int,
        description: str | None = None,
        *,
        field: str | None = None,
        reason: Reason | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.code = code
        self.description = description or ERRORS.get(code, (400, "Bad request"))[1]
        super().__init__(
            reason or _REASON_OF_CODE.get(code, Reason.INVALID),
            self.description,
            field=field,
            retry_after=retry_after,
        )

    @classmethod
    def of(cls, reason: Reason, description: str | None = None, *, field: str | None = None) -> SendError:
        """The reference form of a domain refusal: its code from REFERENCE_CODES."""
        return cls(REFERENCE_CODES[reason], description, field=field, reason=reason)
