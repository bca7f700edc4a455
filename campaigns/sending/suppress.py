"""The pipeline's "suppress" step: one ordered list of rules, asked the same way in every mode.

`rules_for(ctx)` is that list: the blacklist first, then the compliance rules (consent, holdout,
frequency cap, quiet hours: `compliance_rules(ctx)`). Every rule follows compliance.protocol.Rule:
`judge(ctx, candidates) -> {index: Skip | Hold}` for a whole batch at once (one query per batch,
never one per recipient), and rules_judge folds them in order.

- List sends (inside the request): `targets_suppress` judges the request's distinct addresses.
  The blacklist keeps the reference API's answer: 102 "the recipient is on the blacklist" for that
  recipient, no message. Another rule's Skip becomes a message with status `rejected` and a
  `rejected` event whose extra holds {"reason": ...}; a Hold becomes a `scheduled` message due at
  `until`, the reason kept in its options["held"] (campaigns.sending.persist writes both).
- Group fan-out chunks (campaigns.fanout): a rule that offers `exclusion(ctx, column=...)` and is
  `silent` (the blacklist) is an SQL NOT EXISTS inside the chunk's key-range query, so a
  blacklisted contact is simply not in the audience, as before; every other rule judges each
  fetched batch of rows (`chunk_rules`), with the same Skip / Hold outcome as list sends.
- The compose page's counts use the same `exclusion()`.

A new rule is a class with `reason`, `purposes`, `at_dispatch` and `judge` (optionally
`exclusion`), returned by `compliance_rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final, Protocol

from django.db.models import Exists, OuterRef

from campaigns.errors import Reason, SendError
from campaigns.sending.audience import BLACKLISTED, DUPLICATE
from campaigns.sending.channels import blacklist_type
from campaigns.sending.request import Target
from compliance.protocol import Candidate, Hold, Purpose, Rule, RuleContext, Skip, Verdict, rules_judge
from compliance.protocol import Reason as RuleReason
from compliance.rules import account_rules
from contacts.models import BlacklistEntry

BOTH_PURPOSES: Final = frozenset({Purpose.MARKETING.value, Purpose.TRANSACTIONAL.value})


class SqlRule(Rule, Protocol):
    """A rule that can also say whom it removes as an SQL condition on the Contact rows (chunk
    queries and pre-send counts); `silent`: its removals leave no message row in group sends."""

    silent: bool

    def exclusion(self, ctx: RuleContext, *, column: str) -> Exists | None: ...


class BlacklistRule:
    """The account's blacklist of the channel (sms and landing: sms; mailing: mailing; voice: voice)."""

    reason: Final = RuleReason.BLACKLIST.value
    purposes: Final = BOTH_PURPOSES
    at_dispatch: Final = True
    silent: Final = True

    def judge(self, ctx: RuleContext, candidates: Sequence[Candidate]) -> dict[int, Verdict]:
        kind = blacklist_type(ctx.channel)
        if kind is None or not candidates:
            return {}
        listed = set(
            BlacklistEntry.objects.filter(
                account_id=ctx.account_id, type=kind, recipient__in={candidate.address for candidate in candidates}
            ).values_list("recipient", flat=True)
        )
        return {index: Skip(self.reason) for index, candidate in enumerate(candidates) if candidate.address in listed}

    def exclusion(self, ctx: RuleContext, *, column: str) -> Exists | None:
        """Contacts whose `column` (phone or email) is blacklisted, as an EXISTS on the Contact row."""
        kind = blacklist_type(ctx.channel)
        if kind is None:
            return None
        return Exists(BlacklistEntry.objects.filter(account_id=ctx.account_id, type=kind, recipient=OuterRef(column)))


def compliance_rules(ctx: RuleContext) -> list[Rule]:
    """The compliance rules after the blacklist, in order (consent, holdout, frequency cap, quiet
    hours), the account's active ones only: compliance.rules.account_rules."""
    return account_rules(ctx)


def rules_for(ctx: RuleContext) -> list[Rule]:
    return [BlacklistRule(), *compliance_rules(ctx)]


def applies(rule: Rule, ctx: RuleContext) -> bool:
    return ctx.purpose in rule.purposes


def context(*, account_id: int, channel: str, purpose: str, now: datetime, ignore_holdout: bool = False) -> RuleContext:
    return RuleContext(account_id=account_id, channel=channel, purpose=purpose, now=now, ignore_holdout=ignore_holdout)


# ---------------------------------------------------------------------------------------------
# List sends


def targets_suppress(*, ctx: RuleContext, targets: Sequence[Target]) -> None:
    """Judge the targets still accepted (each address once), then mark duplicates.

    A blacklisted address is refused for every target that names it (102); of the other repeats
    of one address the first is kept and the rest are refused as duplicates (102), so a rule's
    Skip or Hold applies to the one message the address gets."""
    keys: dict[str, int] = {}
    candidates: list[Candidate] = []
    for target in targets:
        if target.error is None and target.key not in keys:
            keys[target.key] = len(candidates)
            contact_id = target.contact.get("id") if target.contact else None
            candidates.append(Candidate(contact_id=contact_id, address=target.key, country=target.country))
    verdicts = rules_judge(rules_for(ctx), ctx, candidates)
    seen: set[str] = set()
    for target in targets:
        if target.error is not None:
            continue
        verdict = verdicts[keys[target.key]]
        if isinstance(verdict, Skip) and verdict.reason == RuleReason.BLACKLIST:
            target.error = SendError.of(Reason.BLACKLISTED, BLACKLISTED, field="recipients")
        elif target.key in seen:
            target.error = SendError.of(Reason.DUPLICATE, DUPLICATE, field="recipients")
        else:
            seen.add(target.key)
            if isinstance(verdict, Skip):
                target.skip = verdict
            elif isinstance(verdict, Hold):
                target.hold = verdict


# ---------------------------------------------------------------------------------------------
# Group fan-out chunks


def chunk_split(rules: Sequence[Rule], ctx: RuleContext, *, column: str) -> tuple[list[Exists], list[Rule]]:
    """(SQL exclusions, rules judged per batch) of a chunk. A silent rule with an exclusion (the
    blacklist) goes into the chunk query; every other rule that applies judges each batch of rows."""
    exclusions: list[Exists] = []
    judged: list[Rule] = []
    for rule in rules:
        if not applies(rule, ctx):
            continue
        if getattr(rule, "silent", False) and hasattr(rule, "exclusion"):
            exclusion = rule.exclusion(ctx, column=column)
            if exclusion is not None:
                exclusions.append(exclusion)
        else:
            judged.append(rule)
    return exclusions, judged
