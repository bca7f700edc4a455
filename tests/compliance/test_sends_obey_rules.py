"""The compliance rules on the real send paths: POST /api/rest/sms and group sends ask
compliance.rules through the pipeline (campaigns.sending.suppress.compliance_rules), so a refused
recipient becomes a `rejected` message with its reason and a held one waits with its release time."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.services import sms_group_send
from compliance.models import ComplianceSettings, ConsentSource, ConsentStatus, ContactConsent, FrequencyCap
from compliance.services import compliance_settings_get
from contacts.models import Contact, Group, Membership
from messaging.models import Event, EventType, Message, MessageStatus
from tests.campaigns.conftest import post_sms
from tests.campaigns.test_send_pipeline_rules import enqueued, run_chunks  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

IRISH = "353861234567"
FRENCH = "33612345678"
SPANISH = "34666555444"


def sent_to(recipient: str) -> Message:
    return Message.objects.get(recipient=recipient)


def assert_rejected_for(message: Message, reason: str) -> None:
    assert (message.status, message.error_reason, message.cost) == (MessageStatus.REJECTED, reason, 0)
    [event] = Event.objects.filter(message=message)
    assert (event.type, event.extra["reason"]) == (EventType.REJECTED, reason)


def test_marketing_sms_to_ireland_without_opt_in_is_rejected_for_consent(api_client, account):
    response = post_sms(api_client, to=[IRISH], message="Sale today", **{"from": "SHOP"})

    assert response.status_code == 202
    assert_rejected_for(sent_to(IRISH), "consent")


def test_marketing_sms_to_ireland_with_opt_in_is_queued(api_client, account):
    contact = Contact.objects.create(account=account, phone=IRISH, country_iso="IE")
    ContactConsent.objects.create(
        account=account, contact=contact, channel="sms", status=ConsentStatus.OPTED_IN,
        source=ConsentSource.STAFF, changed_at=timezone.now(),
    )  # fmt: skip

    post_sms(api_client, to=[IRISH], message="Sale today", **{"from": "SHOP"})

    assert sent_to(IRISH).status == MessageStatus.QUEUED


def test_an_opted_out_contact_gets_no_marketing_anywhere(api_client, account):
    contact = Contact.objects.create(account=account, phone=SPANISH, country_iso="ES")
    ContactConsent.objects.create(
        account=account, contact=contact, channel="sms", status=ConsentStatus.OPTED_OUT,
        source=ConsentSource.KEYWORD, changed_at=timezone.now(),
    )  # fmt: skip

    post_sms(api_client, to=[SPANISH], message="Sale today", **{"from": "SHOP"})

    assert_rejected_for(sent_to(SPANISH), "consent")


def test_an_account_whose_default_purpose_is_transactional_sends_to_ireland_without_opt_in(api_client, account):
    settings = compliance_settings_get(account)
    settings.default_purpose = "transactional"
    settings.save()

    post_sms(api_client, to=[IRISH], message="Your parcel is on its way", **{"from": "SHOP"})

    message = sent_to(IRISH)
    assert message.status == MessageStatus.QUEUED
    assert message.sending.purpose == "transactional"


def test_marketing_sms_to_france_scheduled_on_a_sunday_is_held_until_monday_0800_paris(api_client, account):
    # Sunday 3 January 2027, 14:00 in Paris (13:00 UTC).
    post_sms(
        api_client, to=[FRENCH], message="Sale today STOP au 36111", scheduleDate="20270103130000", **{"from": "S"}
    )

    message = sent_to(FRENCH)
    assert message.status == MessageStatus.SCHEDULED
    assert message.due_at == datetime(2027, 1, 4, 7, 0, tzinfo=UTC)  # Monday 08:00 in Paris
    assert message.options["held"]["reason"] == "quiet_hours"


def test_a_frequency_cap_counts_an_api_send_and_then_refuses_the_group_send(api_client, account, enqueued):  # noqa: F811
    FrequencyCap.objects.create(account=account, channel="", max_messages=1, period_days=7)
    group = Group.objects.create(account=account, name="Customers")
    capped = Contact.objects.create(account=account, phone=SPANISH, country_iso="ES")
    fresh = Contact.objects.create(account=account, phone="34666555445", country_iso="ES")
    Membership.objects.bulk_create([Membership(contact=capped, group=group), Membership(contact=fresh, group=group)])

    post_sms(api_client, to=[SPANISH], message="First promotion", **{"from": "SHOP"})
    sending = sms_group_send(account=account, group_ids=[group.pk], message="Second promotion", sender="SHOP")
    run_chunks(sending)

    group_messages = {m.recipient: m for m in Message.objects.filter(sending=sending)}
    assert_rejected_for(group_messages[SPANISH], "frequency_cap")
    assert group_messages["34666555445"].status == MessageStatus.QUEUED
    sending.refresh_from_db()
    assert (sending.total, sending.rejected, sending.processed) == (2, 1, 1)


def test_a_transactional_send_neither_counts_against_nor_is_blocked_by_a_cap(api_client, account):
    FrequencyCap.objects.create(account=account, channel="sms", max_messages=1, period_days=1)
    ComplianceSettings.objects.filter(account=account).delete()
    for text in ("Code one", "Code two"):
        post_sms(api_client, to=[SPANISH], message=text, **{"from": "SHOP"})
    first, second = Message.objects.filter(recipient=SPANISH).order_by("id")
    assert first.status == MessageStatus.QUEUED
    assert_rejected_for(second, "frequency_cap")

    settings = compliance_settings_get(account)
    settings.default_purpose = "transactional"
    settings.save()
    post_sms(api_client, to=[SPANISH], message="Code three", **{"from": "SHOP"})
    assert Message.objects.filter(recipient=SPANISH).order_by("id").last().status == MessageStatus.QUEUED
    assert timezone.now() - first.created_at < timedelta(minutes=1)
