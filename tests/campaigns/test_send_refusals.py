"""Refusals carry a domain reason and field (campaigns.errors), besides the reference API's code."""

import pytest

from campaigns.errors import REFERENCE_CODES, Reason, SendError, SendRefused
from campaigns.services import mailing_send, sms_send
from contacts.models import BlacklistType
from tests.campaigns.conftest import blacklist


def test_every_reason_has_a_reference_code():
    assert set(REFERENCE_CODES) == set(Reason)


def test_a_reference_error_built_from_a_reason_takes_the_spec_code_and_description():
    error = SendError.of(Reason.NOT_ENOUGH_CREDIT)
    assert (error.code, error.description, error.reason, error.field) == (
        111,
        "Not enough credits",
        Reason.NOT_ENOUGH_CREDIT,
        None,
    )
    assert isinstance(error, SendRefused)


@pytest.mark.parametrize(
    ("changes", "code", "reason", "field"),
    [
        ({"sender": "A" * 12}, 107, Reason.SENDER_TOO_LONG, "sender"),
        ({"sender": "bad*sender"}, 422, Reason.INVALID, "sender"),
        ({"message": ""}, 104, Reason.TEXT_MISSING, "message"),
        ({"parts": 0}, 110, Reason.BAD_PARTS, "parts"),
        ({"campaign_name": "", "tags": None}, 126, Reason.CAMPAIGN_NAME_EMPTY, "campaign_name"),
        ({"tags": ["ok", ""], "campaign_name": "C"}, 422, Reason.INVALID, "tags"),
        ({"available_times": [{"day": 9}]}, 185, Reason.BAD_SEND_TIME, "available_times"),
        ({"to": []}, 102, Reason.NO_VALID_RECIPIENT, "recipients"),
    ],
)
def test_an_sms_refusal_names_its_reason_and_domain_field(account, changes, code, reason, field):
    request = {"account": account, "message": "Hello", "to": ["34666555444"], "sender": "SHOP", **changes}
    with pytest.raises(SendError) as refused:
        sms_send(**request)
    assert (refused.value.code, refused.value.reason, refused.value.field) == (code, reason, field)


def test_a_blacklisted_recipient_is_refused_for_that_reason_with_the_spec_code(account):
    blacklist(account, BlacklistType.SMS, "34666555444")
    outcome = sms_send(account=account, message="Hi", to=["34666555444", "34666555445", "34666555445"], sender="SHOP")
    errors = [result.error for result in outcome.results]
    assert errors[1] is None
    assert [(error.code, error.reason, error.field) for error in (errors[0], errors[2])] == [
        (102, Reason.BLACKLISTED, "recipients"),
        (102, Reason.DUPLICATE, "recipients"),
    ]


def test_an_email_sender_refusal_names_the_from_email_field(mail_account):
    with pytest.raises(SendError) as refused:
        mailing_send(
            account=mail_account, to=["a@example.com"], from_email="nobody@example.com",
            reply_to="replyto@example.com", subject="S", body="<p>x</p>",
        )  # fmt: skip
    assert (refused.value.code, refused.value.reason, refused.value.field) == (
        115,
        Reason.SENDER_NOT_VERIFIED,
        "from_email",
    )
