"""What a list send answers: one `RecipientResult` per recipient as given, in the request's order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaigns.errors import SendError
from campaigns.models import Sending
from campaigns.sending.request import Target


@dataclass(frozen=True)
class RecipientResult:
    to: str
    accepted: bool
    message_id: str | None = None
    parts: int | None = None
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    error: SendError | None = None


@dataclass(frozen=True)
class SendOutcome:
    campaign_id: int  # 0 without a campaign
    sending_id: int
    results: list[RecipientResult]

    @property
    def all_accepted(self) -> bool:
        return all(result.accepted for result in self.results)


def shown(raw: Any) -> str:
    return str(raw) if isinstance(raw, str | int | float) and not isinstance(raw, bool) else str(raw)[:100]


def first_error_raise(targets: Sequence[Target]) -> None:
    """Nobody accepted: the send is refused with its first recipient's refusal."""
    for target in targets:
        if target.error is not None:
            raise target.error
    raise SendError(102, field="recipients")


def outcome(
    sending: Sending,
    targets: Sequence[Target],
    *,
    schedule_at: datetime | None,
    expires_at: datetime | None,
    with_parts: bool,
) -> SendOutcome:
    """A message the rules rejected or held is accepted (it exists, with its reason): the answer
    says so by its id, like any other."""
    results = []
    for target in targets:
        if target.error is not None:
            results.append(RecipientResult(to=shown(target.raw), accepted=False, error=target.error))
        else:
            results.append(
                RecipientResult(
                    to=target.key or "",
                    accepted=True,
                    message_id=target.public_id,
                    parts=target.parts if with_parts else None,
                    scheduled_at=schedule_at,
                    expires_at=expires_at,
                )
            )
    return SendOutcome(campaign_id=sending.campaign_id or 0, sending_id=sending.pk, results=results)
