"""availableTimes refusals answer the spec's Errors-table codes (183-196) through POST /sms, the
compose page and group sends, and a window whose `from` is after its `to` is refused (188)."""

from datetime import UTC, datetime, timedelta

import pytest

from campaigns.models import Sending
from campaigns.services import SendError, sms_group_send
from config.api import ERRORS
from messaging.models import MessageStatus
from messaging.scheduling import MAX_WINDOWS, available_times_parse, message_initial_state
from tests.campaigns.conftest import error_of, nothing_written, post_sms

pytestmark = pytest.mark.django_db

SPEC_TEXTS = {
    183: "Available times value is not an array",
    184: "Available times day is not an integer",
    185: "Available times day out of range",
    186: "Available times from hour format error",
    187: "Available times to hour format error",
    188: "Available times from hour is greater than to hour",
    189: "Missing available time object property",
    194: "Available times is specified but its value is empty",
    196: "Available times range is too short",
}

REFUSED = [
    ("09-21", 183, "The availableTimes must be an array."),
    ({"from": "09:00", "to": "21:00"}, 183, "The availableTimes must be an array."),
    ([1], 183, "The availableTimes.0 must be an object."),
    ([{"day": "monday", "from": "09:00", "to": "21:00"}], 184, "The availableTimes.0.day must be an integer."),
    ([{"day": 1.5, "from": "09:00", "to": "21:00"}], 184, "The availableTimes.0.day must be an integer."),
    ([{"day": True, "from": "09:00", "to": "21:00"}], 184, "The availableTimes.0.day must be an integer."),
    ([{"day": 0, "from": "09:00", "to": "21:00"}], 185, "The availableTimes.0.day must be between 1 and 7."),
    ([{"day": 8, "from": "09:00", "to": "21:00"}], 185, "The availableTimes.0.day must be between 1 and 7."),
    ([{"from": "9am", "to": "21:00"}], 186, "The availableTimes.0.from must be a time in HH:MM format."),
    ([{"from": "24:00", "to": "24:00"}], 186, "The availableTimes.0.from must be a time between 00:00 and 23:59."),
    ([{"from": 9, "to": "21:00"}], 186, "The availableTimes.0.from must be a time in HH:MM format."),
    ([{"from": "09:00", "to": "25:00"}], 187, "The availableTimes.0.to must be a time in HH:MM format."),
    ([{"from": "22:00", "to": "06:00"}], 188, "The availableTimes.0.from (22:00) must be earlier than"),
    (
        [{"day": 1, "from": "09:00", "to": "21:00"}, {"day": 2, "from": "21:01", "to": "21:00"}],
        188,
        "The availableTimes.1.from (21:01) must be earlier than availableTimes.1.to (21:00)",
    ),
    ([{"day": 1, "to": "21:00"}], 189, "The availableTimes.0.from field is required."),
    ([{"from": "09:00"}], 189, "The availableTimes.0.to field is required."),
    ([{"from": "09:00", "to": None}], 189, "The availableTimes.0.to field is required."),
    ([], 194, "The availableTimes is given but empty"),
    ("", 194, "The availableTimes is given but empty"),
    ([{"from": "09:00", "to": "09:00"}], 196, "The availableTimes.0.to must be different from availableTimes.0.from."),
]


def test_the_errors_table_carries_the_spec_text_of_each_available_times_code():
    for code, text in SPEC_TEXTS.items():
        assert ERRORS[code] == (400, text)


@pytest.mark.parametrize(("windows", "code", "words"), REFUSED)
def test_refused_available_times_answer_their_spec_code_and_send_nothing(api_client, account, windows, code, words):
    response = post_sms(api_client, to=["34666555444"], message="Hi", availableTimes=windows, **{"from": "T"})

    assert error_of(response) == (400, code)
    description = response.json()["error"]["description"]
    assert description.startswith(f"{SPEC_TEXTS[code]}: ")
    assert words in description
    assert nothing_written(account)


def test_a_window_from_after_to_is_refused_and_a_night_is_sent_as_two_windows(api_client, account):
    refused = post_sms(
        api_client, to=["34666555444"], message="Hi", availableTimes=[{"day": 5, "from": "22:00", "to": "06:00"}],
        **{"from": "T"},
    )  # fmt: skip
    assert error_of(refused) == (400, 188)

    night = [{"day": 5, "from": "22:00", "to": "24:00"}, {"day": 6, "from": "00:00", "to": "06:00"}]
    accepted = post_sms(
        api_client, to=["34666555444"], message="Hi", availableTimes=night, scheduleDate="20990105100000",
        **{"from": "T"},
    )  # fmt: skip
    assert accepted.status_code == 202
    # 2099-01-05 is a Monday: the first window is Friday 2099-01-09 22:00 UTC.
    assert Sending.objects.get(account=account).messages.get().due_at == datetime(2099, 1, 9, 22, 0, tzinfo=UTC)


def test_a_one_minute_window_is_the_shortest_accepted(api_client, account):
    response = post_sms(
        api_client, to=["34666555444"], message="Hi", availableTimes=[{"from": "09:00", "to": "09:01"}],
        **{"from": "T"},
    )  # fmt: skip
    assert response.status_code == 202


def test_null_available_times_means_not_sent(api_client, account):
    response = post_sms(api_client, to=["34666555444"], message="Hi", availableTimes=None, **{"from": "T"})

    assert response.status_code == 202
    assert Sending.objects.get(account=account).messages.get().status == MessageStatus.QUEUED


def test_more_windows_than_the_limit_are_refused_with_422(api_client, account):
    windows = [{"day": 1 + index % 7, "from": "09:00", "to": "10:00"} for index in range(MAX_WINDOWS + 1)]
    response = post_sms(api_client, to=["34666555444"], message="Hi", availableTimes=windows, **{"from": "T"})

    assert error_of(response) == (422, 422)
    assert f"may not have more than {MAX_WINDOWS} items" in response.json()["error"]["description"]
    assert nothing_written(account)


def test_a_group_send_refuses_a_window_from_after_to_with_188(account):
    with pytest.raises(SendError) as refused:
        sms_group_send(
            account=account, group_ids=None, message="Hi", sender="T",
            available_times=[{"from": "23:00", "to": "01:00"}],
        )  # fmt: skip
    assert refused.value.code == 188
    assert not Sending.objects.filter(account=account).exists()


def test_an_overnight_window_stored_before_the_rule_is_still_released_as_one(account):
    # Sendings accepted before 188 was enforced keep `to` earlier than `from`; the release reads it.
    stored = [{"day": 5, "from": "22:00", "to": "06:00"}]
    friday_2330 = datetime(2024, 1, 5, 23, 30, tzinfo=UTC)

    assert available_times_parse(stored)[0].end == timedelta(days=1, hours=6)
    assert message_initial_state(now=friday_2330, available_times=stored) == (MessageStatus.QUEUED, friday_2330)


def test_the_compose_page_shows_a_window_from_after_to_beside_the_window(client, api_user, account):
    client.force_login(api_user)
    data = {"channel": "sms", "sender": "ACME", "message": "Hello", "encoding": "auto", "parts": "15",
            "when": "now", "action": "send", "pasted": "34666555444",
            "window_from_0": "22:00", "window_to_0": "06:00"}  # fmt: skip

    response = client.post("/compose/", data)

    assert response.status_code == 422
    errors = " ".join(response.context["form"].errors["window_from_0"])
    assert "The start of window 1 (22:00) must be earlier than the end of window 1 (06:00)" in errors
    assert not Sending.objects.filter(account=account).exists()
