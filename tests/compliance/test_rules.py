"""The compliance rules as the pipeline asks them: consent, holdout, frequency caps and quiet hours over a
batch of candidates, each with one query at most, and `account_rules` loading only the active ones."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import (
    ComplianceSettings,
    ConsentStatus,
    ContactConsent,
    ContactTouch,
    CountryRule,
    FrequencyCap,
    QuietHours,
)
from compliance.protocol import Candidate, Hold, Purpose, RuleContext, Skip, rules_judge
from compliance.rules import (
    Cap,
    ConsentRule,
    FrequencyCapRule,
    HoldoutRule,
    QuietHoursRule,
    account_rules,
    holdout_bucket,
    touches_record,
)
from contacts.models import Contact

pytestmark = pytest.mark.django_db

# A Wednesday at noon in Paris.
WEDNESDAY_NOON = datetime(2026, 12, 9, 11, 0, tzinfo=UTC)


def ctx(account, *, channel="sms", purpose=Purpose.MARKETING, now=WEDNESDAY_NOON, ignore_holdout=False):
    return RuleContext(account_id=account.pk, channel=channel, purpose=purpose, now=now, ignore_holdout=ignore_holdout)


def contact(account, phone, country="ES", time_zone=""):
    return Contact.objects.create(account=account, phone=phone, country_iso=country, time_zone=time_zone)


def candidate(row: Contact) -> Candidate:
    return Candidate(contact_id=row.pk, address=row.phone, country=row.country_iso, time_zone=row.time_zone or None)


def consent(account, row, status, channel="sms"):
    ContactConsent.objects.create(
        account=account, contact=row, channel=channel, status=status, source="api", changed_at=timezone.now()
    )


def rule_of(rules, kind):
    return next(rule for rule in rules if isinstance(rule, kind))


# ---------------------------------------------------------------------------------------------
# Consent


def test_opted_out_contact_is_skipped_with_reason_consent(account):
    out, unknown = contact(account, "34600000001"), contact(account, "34600000002")
    consent(account, out, ConsentStatus.OPTED_OUT)

    verdicts = rules_judge(account_rules(ctx(account)), ctx(account), [candidate(out), candidate(unknown)])

    assert verdicts == [Skip("consent", "opted out of sms"), None]


def test_opt_in_is_required_in_ireland_by_default(account):
    opted_in, unknown = contact(account, "353861234567", "IE"), contact(account, "353861234568", "IE")
    consent(account, opted_in, ConsentStatus.OPTED_IN)
    anonymous = Candidate(contact_id=None, address="353861234569", country="IE")

    verdicts = rules_judge(
        account_rules(ctx(account)), ctx(account), [candidate(opted_in), candidate(unknown), anonymous]
    )

    assert verdicts[0] is None
    assert verdicts[1] == verdicts[2] == Skip("consent", "IE needs an explicit opt-in on sms")


def test_opt_in_countries_of_the_account_add_to_the_country_rules(account):
    ComplianceSettings.objects.create(account=account, holdout_key="k", opt_in_countries=["ES"])
    spanish = contact(account, "34600000001")

    rules = account_rules(ctx(account))

    assert rule_of(rules, ConsentRule).opt_in_countries == {"ES", "IE"}
    assert rules_judge(rules, ctx(account), [candidate(spanish)])[0].reason == "consent"


def test_landing_sms_reads_sms_consent_and_mailing_its_own(account):
    row = contact(account, "34600000001")
    consent(account, row, ConsentStatus.OPTED_OUT, channel="sms")
    rule = ConsentRule(opt_in_countries=frozenset())

    assert rule.judge(ctx(account, channel="landing"), [candidate(row)]) == {0: Skip("consent", "opted out of sms")}
    assert rule.judge(ctx(account, channel="mailing"), [candidate(row)]) == {}


def test_transactional_sends_get_no_rules_and_cost_no_query(account):
    with CaptureQueriesContext(connection) as queries:
        assert account_rules(ctx(account, purpose=Purpose.TRANSACTIONAL)) == []
    assert len(queries) == 0


# ---------------------------------------------------------------------------------------------
# Holdout


def test_holdout_is_stable_across_runs_and_unchanged_by_contacts_added_later(account):
    rule = HoldoutRule(key="secret-key", percent=Decimal("10"))
    first = [Candidate(contact_id=contact_id, address="", country=None) for contact_id in range(1, 5001)]
    held = set(rule.judge(ctx(account), first))

    assert held == set(rule.judge(ctx(account), first))
    more = first + [Candidate(contact_id=contact_id, address="", country=None) for contact_id in range(5001, 9001)]
    assert {index for index in rule.judge(ctx(account), more) if index < 5000} == held
    assert 400 <= len(held) <= 600  # ~10 %


def test_holdout_bucket_decides_membership_at_the_percent_boundary(account):
    bucket = holdout_bucket("k", 42)
    just_in = HoldoutRule(key="k", percent=Decimal(bucket + 1) / 100)
    just_out = HoldoutRule(key="k", percent=Decimal(bucket) / 100)
    one = [Candidate(contact_id=42, address="", country=None)]

    assert just_in.judge(ctx(account), one) == {0: Skip("holdout")}
    assert just_out.judge(ctx(account), one) == {}


def test_holdout_key_reshuffles_and_ignore_holdout_turns_it_off(account):
    candidates = [Candidate(contact_id=contact_id, address="", country=None) for contact_id in range(1, 2001)]
    one = HoldoutRule(key="a", percent=Decimal("20")).judge(ctx(account), candidates)
    other = HoldoutRule(key="b", percent=Decimal("20")).judge(ctx(account), candidates)

    assert set(one) != set(other)
    assert HoldoutRule(key="a", percent=Decimal("20")).judge(ctx(account, ignore_holdout=True), candidates) == {}


def test_holdout_rule_is_active_only_with_a_share(account):
    ComplianceSettings.objects.create(account=account, holdout_key="k", holdout_percent=Decimal("0"))
    assert not any(isinstance(rule, HoldoutRule) for rule in account_rules(ctx(account)))

    ComplianceSettings.objects.filter(account=account).update(holdout_percent=Decimal("5"))
    assert rule_of(account_rules(ctx(account)), HoldoutRule).percent == Decimal("5")


# ---------------------------------------------------------------------------------------------
# Frequency caps


def test_cap_reached_across_two_campaigns_and_two_apis_skips_the_next_message(account):
    row = contact(account, "34600000001")
    FrequencyCap.objects.create(account=account, channel="", max_messages=3, period_days=7)
    today = WEDNESDAY_NOON.date()
    # Campaign A by the SMS API, campaign B by the mailing API, a landing SMS: three touches this week.
    touches_record(account_id=account.pk, channel="sms", day=today - timedelta(days=6), contact_ids=[row.pk])
    touches_record(account_id=account.pk, channel="mailing", day=today - timedelta(days=2), contact_ids=[row.pk])
    rules = account_rules(ctx(account))
    assert rules_judge(rules, ctx(account), [candidate(row)]) == [None]

    touches_record(account_id=account.pk, channel="landing", day=today, contact_ids=[row.pk])

    verdict = rules_judge(account_rules(ctx(account)), ctx(account), [candidate(row)])[0]
    assert verdict == Skip("frequency_cap", "3 per 7 d on any channel")


def test_touches_older_than_the_period_do_not_count(account):
    row = contact(account, "34600000001")
    rule = FrequencyCapRule(caps=(Cap(channel="", max_messages=1, period_days=7),))
    touches_record(
        account_id=account.pk, channel="sms", day=WEDNESDAY_NOON.date() - timedelta(days=7), contact_ids=[row.pk]
    )
    assert rule.judge(ctx(account), [candidate(row)]) == {}

    touches_record(
        account_id=account.pk, channel="sms", day=WEDNESDAY_NOON.date() - timedelta(days=6), contact_ids=[row.pk]
    )
    assert rule.judge(ctx(account), [candidate(row)]) == {0: Skip("frequency_cap", "1 per 7 d on any channel")}


def test_a_channel_cap_counts_only_its_channel(account):
    row = contact(account, "34600000001")
    FrequencyCap.objects.create(account=account, channel="sms", max_messages=1, period_days=1)
    touches_record(account_id=account.pk, channel="mailing", day=WEDNESDAY_NOON.date(), contact_ids=[row.pk])

    assert rules_judge(account_rules(ctx(account)), ctx(account), [candidate(row)]) == [None]
    # A mailing send is not subject to the SMS cap at all.
    touches_record(account_id=account.pk, channel="sms", day=WEDNESDAY_NOON.date(), contact_ids=[row.pk])
    assert rules_judge(account_rules(ctx(account)), ctx(account), [candidate(row)])[0].reason == "frequency_cap"
    assert rules_judge(
        account_rules(ctx(account, channel="mailing")), ctx(account, channel="mailing"), [candidate(row)]
    ) == [None]


def test_the_batch_itself_counts_towards_the_cap(account):
    row = contact(account, "34600000001")
    FrequencyCap.objects.create(account=account, channel="", max_messages=2, period_days=1)
    touches_record(account_id=account.pk, channel="sms", day=WEDNESDAY_NOON.date(), contact_ids=[row.pk])

    verdicts = rules_judge(account_rules(ctx(account)), ctx(account), [candidate(row), candidate(row)])

    assert verdicts == [None, Skip("frequency_cap", "2 per 1 d on any channel")]


def test_transactional_messages_are_never_capped(account):
    row = contact(account, "34600000001")
    FrequencyCap.objects.create(account=account, channel="", max_messages=1, period_days=1)
    touches_record(account_id=account.pk, channel="sms", day=WEDNESDAY_NOON.date(), contact_ids=[row.pk])
    rules = [FrequencyCapRule(caps=rule_of(account_rules(ctx(account)), FrequencyCapRule).caps)]

    assert rules_judge(rules, ctx(account, purpose=Purpose.TRANSACTIONAL), [candidate(row)]) == [None]


def test_touches_record_upserts_one_row_per_contact_day_and_channel(account):
    rows = [contact(account, f"3460000000{index}") for index in range(3)]
    ids = [row.pk for row in rows]
    day = WEDNESDAY_NOON.date()

    with CaptureQueriesContext(connection) as queries:
        assert touches_record(account_id=account.pk, channel="sms", day=day, contact_ids=[*ids, ids[0]]) == 3
    touches_record(account_id=account.pk, channel="landing", day=day, contact_ids=ids[:1])

    assert len(queries) == 1
    assert dict(ContactTouch.objects.values_list("contact_id", "count")) == {ids[0]: 3, ids[1]: 1, ids[2]: 1}
    assert set(ContactTouch.objects.values_list("channel", "day")) == {("sms", day)}


def test_no_caps_means_no_cap_rule(account):
    assert not any(isinstance(rule, FrequencyCapRule) for rule in account_rules(ctx(account)))


# ---------------------------------------------------------------------------------------------
# Quiet hours


def test_marketing_sms_to_france_on_sunday_is_held_until_monday_0800(account):
    french = contact(account, "33612345678", "FR")
    sunday_afternoon = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)

    verdicts = rules_judge(
        account_rules(ctx(account, now=sunday_afternoon)), ctx(account, now=sunday_afternoon), [candidate(french)]
    )

    assert verdicts == [Hold(until=datetime(2026, 12, 7, 7, 0, tzinfo=UTC), reason="quiet_hours")]


def test_account_quiet_hours_apply_in_the_contacts_time_zone_not_the_accounts(account):
    account.timezone = "Europe/Madrid"
    account.save()
    QuietHours.objects.create(account=account, start=time(21, 0), end=time(9, 0))
    madrid = contact(account, "34600000001")
    in_new_york = contact(account, "34600000002", time_zone="America/New_York")
    evening = datetime(2026, 12, 9, 21, 30, tzinfo=UTC)  # 22:30 Madrid, 16:30 New York

    verdicts = rules_judge(
        account_rules(ctx(account, now=evening)), ctx(account, now=evening), [candidate(madrid), candidate(in_new_york)]
    )

    assert verdicts[0] == Hold(until=datetime(2026, 12, 10, 9, 0, tzinfo=UTC), reason="quiet_hours")  # Canaries 09:00
    assert verdicts[1] is None


def test_quiet_hours_limited_to_countries_leave_others_alone(account):
    QuietHours.objects.create(account=account, start=time(0, 0), end=time(23, 59), countries=["PT"])
    spanish = contact(account, "34600000001")

    assert rules_judge(account_rules(ctx(account)), ctx(account), [candidate(spanish)]) == [None]


def test_a_later_skip_wins_over_a_quiet_hours_hold_and_consent_comes_first(account):
    french = contact(account, "33612345678", "FR")
    consent(account, french, ConsentStatus.OPTED_OUT)
    sunday = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    rules = account_rules(ctx(account, now=sunday))

    assert [type(rule) for rule in rules] == [ConsentRule, QuietHoursRule]
    assert rules_judge(rules, ctx(account, now=sunday), [candidate(french)])[0].reason == "consent"


def test_country_rules_are_data_editable_in_the_table(account):
    CountryRule.objects.filter(country="FR").update(allowed_windows={})
    french = contact(account, "33612345678", "FR")
    sunday = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)

    assert rules_judge(account_rules(ctx(account, now=sunday)), ctx(account, now=sunday), [candidate(french)]) == [None]


def test_every_rule_does_at_most_one_query_per_batch(account):
    ComplianceSettings.objects.create(account=account, holdout_key="k", holdout_percent=Decimal("10"))
    FrequencyCap.objects.create(account=account, channel="", max_messages=3, period_days=7)
    QuietHours.objects.create(account=account, start=time(21, 0), end=time(9, 0))
    rules = account_rules(ctx(account))
    assert [type(rule) for rule in rules] == [ConsentRule, HoldoutRule, FrequencyCapRule, QuietHoursRule]
    candidates = [
        Candidate(contact_id=contact_id, address=f"3460{contact_id:07d}", country="ES")
        for contact_id in range(1, 10_001)
    ]

    with CaptureQueriesContext(connection) as queries:
        verdicts = rules_judge(rules, ctx(account), candidates)

    assert len(queries) == 2  # consent and caps; holdout and quiet hours are pure Python
    assert sum(isinstance(verdict, Skip) for verdict in verdicts) > 0
    assert isinstance(rule_of(rules, QuietHoursRule), QuietHoursRule)


def test_the_data_migration_ships_the_spec_countries():
    rows = {row.country: row for row in CountryRule.objects.all()}

    assert {"FR", "CO", "IE", "US", "ES", "GB"} <= set(rows)
    assert rows["FR"].stop_footer == "STOP au {code}"
    assert rows["CO"].no_public_holidays and rows["IE"].opt_in_required and rows["US"].public_shorteners_refused
    assert rows["ES"].allowed_windows == {} and "No time rule" in rows["GB"].notes
