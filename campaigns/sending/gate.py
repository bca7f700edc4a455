"""The dispatcher's last-moment check: the rules that say `at_dispatch` (the blacklist, consent, quiet
hours) asked again just before a claimed message leaves, because the world may have changed since it
was accepted — a STOP reply, a withdrawn consent, a backlog that carried a released message past the
end of the allowed hours. The same rule objects as every sender (campaigns.sending.suppress), so
what the dispatcher refuses is exactly what a new send would refuse.

One query per batch for the sendings' purposes and one for the contacts, then each rule's own batch
query: nothing per message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from campaigns.models import Sending
from campaigns.pricing import phone_country
from campaigns.sending import suppress
from campaigns.sending.channels import address_column
from campaigns.sending.request import KEYWORD_REPLY
from compliance.protocol import Candidate, Purpose, Verdict, rules_judge
from contacts.models import Contact


class GatedMessage(Protocol):
    id: int
    account_id: int
    sending_id: int
    channel: str
    recipient: str
    contact_id: int | None


def dispatch_verdicts(messages: Sequence[GatedMessage], *, now: datetime) -> dict[int, Verdict]:
    """Message id -> Skip or Hold for the claimed messages a rule refuses now; the others may go."""
    if not messages:
        return {}
    sendings = Sending.objects.filter(pk__in={m.sending_id for m in messages})
    purposes: dict[int, str] = {}
    keyword_replies: set[int] = set()
    for pk, purpose, source in sendings.values_list("id", "purpose", "options__source"):
        purposes[pk] = purpose
        if source == KEYWORD_REPLY:
            keyword_replies.add(pk)
    contact_ids = {m.contact_id for m in messages if m.contact_id is not None}
    contacts = {
        pk: (country, zone)
        for pk, country, zone in Contact.objects.filter(pk__in=contact_ids).values_list(
            "id", "country_iso", "time_zone"
        )
    }
    groups: dict[tuple[int, str, str], list[GatedMessage]] = defaultdict(list)
    for message in messages:
        # The reply confirming a STOP is queued just before the number goes on the blacklist: the one
        # message that blacklist entry must not stop (compliance.keywords).
        kind = (
            "keyword_reply" if message.sending_id in keyword_replies else purposes.get(message.sending_id, "marketing")
        )
        groups[(message.account_id, message.channel, kind)].append(message)
    verdicts: dict[int, Verdict] = {}
    for (account_id, channel, kind), group in groups.items():
        purpose = Purpose.TRANSACTIONAL if kind == "keyword_reply" else kind
        ctx = suppress.context(account_id=account_id, channel=channel, purpose=purpose, now=now)
        rules = [rule for rule in suppress.rules_for(ctx) if rule.at_dispatch and suppress.applies(rule, ctx)]
        if kind == "keyword_reply":
            rules = [rule for rule in rules if not isinstance(rule, suppress.BlacklistRule)]
        if not rules:
            continue
        is_phone = address_column(channel) == "phone"
        candidates = []
        for message in group:
            country, zone = contacts.get(message.contact_id, (None, "")) if message.contact_id else (None, "")
            if country is None and is_phone:
                country = phone_country(message.recipient)
            candidates.append(
                Candidate(
                    contact_id=message.contact_id, address=message.recipient, country=country, time_zone=zone or None
                )
            )
        for message, verdict in zip(group, rules_judge(rules, ctx, candidates), strict=True):
            if verdict is not None:
                verdicts[message.id] = verdict
    return verdicts
