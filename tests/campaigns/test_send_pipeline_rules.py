"""The compliance seam of the send pipeline (campaigns.sending.suppress): the rules that
`compliance_rules(ctx)` returns run after the blacklist in list sends and in every fan-out chunk.
A Skip becomes a `rejected` message with a `rejected` event naming the reason, a Hold a `scheduled`
message due when the rule allows, and the sending's counters add up."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import fanout
from campaigns.fanout import fanout_chunk_run
from campaigns.models import FanoutChunk, Sending
from campaigns.sending import suppress
from campaigns.sending.suppress import BlacklistRule
from campaigns.services import mailing_send, sms_group_send, sms_send
from compliance.protocol import Candidate, Hold, Purpose, RuleContext, Skip, rules_judge
from contacts.models import BlacklistType, Contact, Group, Membership
from messaging.models import Event, EventType, Message, MessageStatus
from tests.campaigns.conftest import ES_PRICE, blacklist

pytestmark = pytest.mark.django_db

SKIPPED = "34666000001"
HELD = "34666000002"
HOLD_FOR = timedelta(hours=3)


class SkipOneRule:
    """Skips SKIPPED (as a holdout rule would), marketing only."""

    reason = "holdout"
    purposes = frozenset({Purpose.MARKETING.value})
    at_dispatch = False

    def __init__(self) -> None:
        self.batches: list[int] = []

    def judge(self, ctx: RuleContext, candidates: list[Candidate]) -> dict:
        self.batches.append(len(candidates))
        return {index: Skip(self.reason) for index, c in enumerate(candidates) if c.address == SKIPPED}


class HoldOneRule:
    """Holds HELD until HOLD_FOR after the send (as quiet hours would), marketing only."""

    reason = "quiet_hours"
    purposes = frozenset({Purpose.MARKETING.value})
    at_dispatch = True

    def judge(self, ctx: RuleContext, candidates: list[Candidate]) -> dict:
        return {
            index: Hold(until=ctx.now + HOLD_FOR, reason=self.reason)
            for index, c in enumerate(candidates)
            if c.address == HELD
        }


@pytest.fixture
def rules(monkeypatch) -> list:
    plugged = [SkipOneRule(), HoldOneRule()]
    monkeypatch.setattr(suppress, "compliance_rules", lambda ctx: plugged)
    return plugged


def balance(account) -> Decimal:
    account.refresh_from_db()
    return account.balance


def assert_rejected_with_reason(message: Message, reason: str) -> None:
    assert (message.status, message.cost, message.error_reason) == (MessageStatus.REJECTED, 0, reason)
    [event] = Event.objects.filter(message=message)
    assert (event.type, event.extra["reason"]) == (EventType.REJECTED, reason)


def assert_held_until(message: Message, until) -> None:
    assert message.status == MessageStatus.SCHEDULED
    assert abs(message.due_at - until) < timedelta(seconds=5)
    assert message.options["held"]["reason"] == "quiet_hours"


def test_rules_in_the_list_order_are_the_blacklist_then_the_compliance_rules(rules):
    ctx = suppress.context(account_id=1, channel="sms", purpose="marketing", now=timezone.now())
    assert [type(rule) for rule in suppress.rules_for(ctx)] == [BlacklistRule, SkipOneRule, HoldOneRule]


def test_a_list_send_writes_skipped_recipients_as_rejected_and_held_ones_as_scheduled(account, rules):
    before = balance(account)
    outcome = sms_send(account=account, message="Promo", to=[SKIPPED, HELD, "34666000003"], sender="SHOP")

    assert [result.accepted for result in outcome.results] == [True, True, True]
    messages = {m.recipient: m for m in Message.objects.filter(sending_id=outcome.sending_id)}
    assert_rejected_with_reason(messages[SKIPPED], "holdout")
    assert_held_until(messages[HELD], timezone.now() + HOLD_FOR)
    assert messages["34666000003"].status == MessageStatus.QUEUED
    sending = Sending.objects.get(pk=outcome.sending_id)
    assert (sending.total, sending.rejected, sending.processed) == (3, 1, 1)
    assert sending.cost == 2 * ES_PRICE == before - balance(account)
    assert sending.purpose == Purpose.MARKETING


def test_a_blacklisted_recipient_of_a_list_send_is_still_refused_with_102_before_the_rules(account, rules):
    blacklist(account, BlacklistType.SMS, SKIPPED)
    outcome = sms_send(account=account, message="Promo", to=[SKIPPED, "34666000003"], sender="SHOP")

    assert [(r.accepted, r.error and r.error.code) for r in outcome.results] == [(False, 102), (True, None)]
    assert rules[0].batches == [1]  # the rules after the blacklist never saw it


def test_a_one_time_code_send_is_transactional_so_marketing_rules_leave_it_alone(account, rules):
    outcome = sms_send(
        account=account, message="Code {OTP_CODE}", to=[SKIPPED], sender="SHOP", otp_config={"length": 6}
    )

    message = Message.objects.get(sending_id=outcome.sending_id)
    assert message.status == MessageStatus.QUEUED
    assert Sending.objects.get(pk=outcome.sending_id).purpose == Purpose.TRANSACTIONAL


def test_an_email_list_send_runs_the_same_rules(account, rules, settings):
    from accounts.services import verified_sender_add

    verified_sender_add(account=account, email="info@sample.com")
    outcome = mailing_send(
        account=account, to=["a@example.com"], from_email="info@sample.com", reply_to="info@sample.com",
        subject="S", body="<p>Hi</p>",
    )  # fmt: skip
    assert Message.objects.get(sending_id=outcome.sending_id).status == MessageStatus.QUEUED
    assert rules[0].batches == [1]


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    import django_q.tasks

    calls: list[tuple] = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: calls.append((func, *args)))
    return calls


@pytest.fixture
def group(account) -> Group:
    """Ten contacts with phones 34666000000..09; the one ending in 9 is blacklisted."""
    group = Group.objects.create(account=account, name="Customers")
    contacts = Contact.objects.bulk_create(
        Contact(account=account, phone=f"3466600000{index}", country_iso="ES") for index in range(10)
    )
    Membership.objects.bulk_create(Membership(contact=contact, group=group) for contact in contacts)
    blacklist(account, BlacklistType.SMS, "34666000009")
    return group


def run_chunks(sending: Sending) -> None:
    for chunk_id in FanoutChunk.objects.filter(sending=sending).values_list("id", flat=True):
        fanout_chunk_run(chunk_id)


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "portable"])
def test_a_group_send_runs_the_rules_over_each_batch_with_the_same_outcomes(
    account, group, enqueued, rules, monkeypatch, copy
):
    from campaigns import outbox

    monkeypatch.setattr(outbox, "use_copy", lambda: copy)
    monkeypatch.setattr(fanout, "BATCH_SIZE", 4)
    before = balance(account)
    sending = sms_group_send(account=account, group_ids=[group.pk], message="Promo", sender="SHOP")
    run_chunks(sending)

    messages = {m.recipient: m for m in Message.objects.filter(sending=sending)}
    assert len(messages) == 9  # the blacklisted contact is silently left out, as before
    assert "34666000009" not in messages
    assert_rejected_with_reason(messages[SKIPPED], "holdout")
    assert_held_until(messages[HELD], timezone.now() + HOLD_FOR)
    assert messages[HELD].cost == ES_PRICE
    assert {m.status for r, m in messages.items() if r not in (SKIPPED, HELD)} == {MessageStatus.QUEUED}
    sending.refresh_from_db()
    assert (sending.total, sending.rejected, sending.processed) == (9, 1, 1)
    assert sending.cost == 8 * ES_PRICE == before - balance(account)
    # One judgement per fetched batch (4 + 4 + 1 rows, the blacklisted one excluded in SQL).
    assert rules[0].batches == [4, 4, 1]


def test_a_transactional_group_send_asks_no_rule_per_batch(account, group, enqueued, monkeypatch):
    # Marketing sends always ask the consent rule (opt-outs, opt-in countries); transactional ones ask none.
    calls: list = []
    monkeypatch.setattr(fanout, "rules_judge", lambda *args: calls.append(args) or [])
    sending = sms_group_send(
        account=account, group_ids=[group.pk], message="Promo", sender="SHOP", purpose="transactional"
    )
    run_chunks(sending)

    assert Message.objects.filter(sending=sending).count() == 9
    assert calls == []


def test_the_blacklist_rule_judges_candidates_like_its_sql_exclusion(account):
    blacklist(account, BlacklistType.SMS, "34666000001")
    blacklist(account, BlacklistType.MAILING, "34666000002")  # another channel's list
    ctx = suppress.context(account_id=account.pk, channel="sms", purpose="transactional", now=timezone.now())
    candidates = [Candidate(contact_id=None, address=a, country="ES") for a in ("34666000001", "34666000002")]

    verdicts = rules_judge([BlacklistRule()], ctx, candidates)

    assert verdicts == [Skip("blacklist"), None]
    Contact.objects.bulk_create(Contact(account=account, phone=c.address) for c in candidates)
    excluded = Contact.objects.filter(account=account).filter(BlacklistRule().exclusion(ctx, column="phone"))
    assert list(excluded.values_list("phone", flat=True)) == ["34666000001"]
