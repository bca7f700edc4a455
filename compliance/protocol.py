"""The seam between the send pipeline and the compliance rules.

A leaf module (standard library only), so that `campaigns.sending` (the pipeline) and `compliance.rules`
(consent, holdout, frequency caps, quiet hours) can both import it without importing each other.

Every sender (list sends inside the request, group fan-out chunks, the compose page's pre-send check and
the dispatcher's last-moment gate) asks the same rules the same question: "of these candidates, which may
not receive this message now, and why?". A rule answers for a whole batch at once (one query per batch at
most, never one per recipient), so a million-recipient fan-out pays per chunk, not per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Purpose(StrEnum):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class Reason(StrEnum):
    """Why a rule removed or held a recipient; stored in the event's `extra["reason"]`."""

    BLACKLIST = "blacklist"
    CONSENT = "consent"
    HOLDOUT = "holdout"
    FREQUENCY_CAP = "frequency_cap"
    QUIET_HOURS = "quiet_hours"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One would-be recipient, as every mode of the pipeline can build it without an ORM object."""

    contact_id: int | None
    address: str  # normalised: international phone digits or lower-case email
    country: str | None  # ISO 3166-1 alpha-2 of the destination, when known
    time_zone: str | None = None  # IANA name from the contact, when it has one


@dataclass(frozen=True, slots=True)
class Skip:
    """Not sent at all: a `rejected` message with this reason."""

    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Hold:
    """Not now: the message waits (status `scheduled`) until `until`, then goes if every rule allows."""

    until: datetime
    reason: str


Verdict = Skip | Hold


@dataclass(frozen=True, slots=True)
class RuleContext:
    account_id: int
    channel: str  # a campaigns.models.Channel value
    purpose: str  # a Purpose value
    now: datetime  # the instant the message would leave (now, or its scheduled time)
    ignore_holdout: bool = False


class Rule(Protocol):
    """One compliance rule. `judge` maps candidate indexes to verdicts; an index it leaves out is allowed."""

    reason: str
    purposes: frozenset[str]  # the purposes it applies to (the blacklist: both; the others: marketing)
    at_dispatch: bool  # asked again by the dispatcher just before a message leaves

    def judge(self, ctx: RuleContext, candidates: Sequence[Candidate]) -> dict[int, Verdict]: ...


def rules_judge(rules: Sequence[Rule], ctx: RuleContext, candidates: Sequence[Candidate]) -> list[Verdict | None]:
    """Fold the rules in order: a candidate a rule skipped is not shown to the next one, so each rule's
    count is what it removed from the audience the previous rules left (the pre-send check's funnel).
    A hold does not hide the candidate from later rules: a later skip wins over an earlier hold."""
    verdicts: list[Verdict | None] = [None] * len(candidates)
    for rule in rules:
        if ctx.purpose not in rule.purposes:
            continue
        open_indexes = [index for index, verdict in enumerate(verdicts) if not isinstance(verdict, Skip)]
        if not open_indexes:
            break
        shown = [candidates[index] for index in open_indexes]
        for position, verdict in rule.judge(ctx, shown).items():
            index = open_indexes[position]
            current = verdicts[index]
            if isinstance(verdict, Hold) and isinstance(current, Hold):
                verdict = verdict if verdict.until >= current.until else current
            verdicts[index] = verdict
    return verdicts
