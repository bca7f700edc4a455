"""What a sender asks the pipeline for (`SendRequest`), and each recipient on its way to a message (`Target`).

`SendRequest` is API-neutral: the reference API, the staff compose page, group sends and (next) the
compatibility layers all build one. Values a caller has not coerced (the reference API passes its
JSON values through, as the spec's own casts are part of its rules) are checked by the pipeline's
validate step and the channel module, which refuse them with a `SendError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from accounts.models import Account
from campaigns.errors import SendError
from compliance.protocol import Hold, Purpose, Skip

# The source of a reply that confirms an opt-out keyword (compliance.keywords); its sending is exempt from
# the dispatcher's blacklist check, since the STOP it confirms blacklists the number just after.
KEYWORD_REPLY: Final = "keyword_reply"


@dataclass(frozen=True, kw_only=True)
class SendRequest:
    channel: str  # a Channel value
    account: Account
    # The audience: `recipients` (addresses as given) for a list send, `group_ids` for a group send
    # (None: every contact of the account with the channel's address).
    recipients: Any = None
    group_ids: Sequence[int] | None = None
    text: Any = None  # the SMS message or the email body (HTML)
    subject: Any = None
    sender: Any = None  # SMS: the `from`; email: the fromEmail
    sender_name: Any = None  # email fromName
    reply_to: Any = None
    cc: Any = None
    bcc: Any = None
    attachments: Any = None
    template_id: Any = None
    template_v2_id: Any = None
    encoding: Any = None
    parts: Any = None
    split_parts: bool = False
    trans: bool = False
    flash: bool = False
    certified: bool = False
    track_opens: bool = True
    track_clicks: bool = True
    schedule_at: datetime | None = None
    expires_at: datetime | None = None
    available_times: Any = None
    notification_url: Any = None
    campaign_name: Any = None
    tags: Any = None
    sub: Any = None  # per-recipient values, one object per recipient
    otp_config: dict | None = None
    purpose: str = Purpose.MARKETING  # one-time-code sends are transactional whatever is asked
    ignore_holdout: bool = False
    source: str = "api"  # recorded on the Sending: "api", "group" or KEYWORD_REPLY
    # Landing SMS: the SMS limits of /landingsms and each recipient's {LAND_URL} from its public id.
    parts_limit: int | None = None
    land_url: Callable[[str], str] | None = None
    supported_reserved: frozenset[str] | None = None


@dataclass
class Target:
    """One recipient of a list send on its way to becoming a message."""

    raw: Any
    key: str | None = None  # normalised phone or email
    country: str | None = None
    error: SendError | None = None  # refused: no message (102, 113, ...)
    skip: Skip | None = None  # a compliance rule's skip: a `rejected` message with its reason
    hold: Hold | None = None  # a compliance rule's hold: a `scheduled` message until `hold.until`
    contact: dict[str, Any] | None = None
    public_id: str = ""
    body: str = ""
    subject: str = ""
    parts: int = 1
    cost: Decimal = Decimal(0)
    unsubscribe: str = ""
    notification_url: str = ""
    otp: dict[str, Any] | None = None  # where {OTP_CODE} is masked, then sealed with the code
    text_body: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
