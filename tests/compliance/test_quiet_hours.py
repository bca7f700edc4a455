"""Quiet hours in the recipient's local time: the spec's country windows, public holidays, the account's own
quiet hours, time zones from the contact, the phone number or the country, DST, and availableTimes."""

import functools
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
import pytest
from phonenumbers import timezone as phone_timezone

from compliance.quiet_hours import (
    NoAllowedTime,
    QuietWindow,
    TimeRules,
    allowed_windows_parse,
    next_allowed,
    phone_zones,
    recipient_zones,
    release_instant,
)
from messaging.scheduling import available_times_parse, window_next_start

PARIS = ZoneInfo("Europe/Paris")
BOGOTA = ZoneInfo("America/Bogota")

FRANCE = TimeRules(allowed=allowed_windows_parse({str(day): [["08:00", "22:00"]] for day in range(6)}))
COLOMBIA = TimeRules(
    allowed=allowed_windows_parse({**{str(day): [["07:00", "19:00"]] for day in range(5)}, "5": [["08:00", "15:00"]]}),
    holiday_country="CO",
)


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def bogota(*args) -> datetime:
    return datetime(*args, tzinfo=BOGOTA)


def test_french_saturday_2159_is_allowed():
    now = paris(2026, 12, 5, 21, 59)  # a Saturday
    assert next_allowed(now, ("Europe/Paris",), FRANCE) == now


def test_french_saturday_2200_is_held_until_monday_0800():
    assert next_allowed(paris(2026, 12, 5, 22, 0), ("Europe/Paris",), FRANCE) == paris(2026, 12, 7, 8, 0)


def test_french_sunday_afternoon_is_held_until_monday_0800_as_the_spec_example_says():
    assert next_allowed(paris(2026, 12, 6, 14, 0), ("Europe/Paris",), FRANCE) == paris(2026, 12, 7, 8, 0)


def test_french_weekday_0759_waits_one_minute():
    assert next_allowed(paris(2026, 12, 8, 7, 59, 30), ("Europe/Paris",), FRANCE) == paris(2026, 12, 8, 8, 0)


def test_colombian_public_holiday_from_the_holidays_library_is_skipped_to_the_next_working_day():
    calendar = holidays.country_holidays("CO", years=2026)
    monday_holiday = next(day for day in sorted(calendar) if day.weekday() == 0)  # e.g. Epiphany observed
    at_nine = bogota(monday_holiday.year, monday_holiday.month, monday_holiday.day, 9, 0)

    released = next_allowed(at_nine, ("America/Bogota",), COLOMBIA)

    assert released.astimezone(BOGOTA).date() > monday_holiday
    assert released.astimezone(BOGOTA).date() not in calendar
    assert released.astimezone(BOGOTA).time() == time(7, 0)


def test_colombian_saturday_1500_is_held_until_monday_0700():
    assert next_allowed(bogota(2026, 12, 5, 15, 0), ("America/Bogota",), COLOMBIA) == bogota(2026, 12, 7, 7, 0)


def test_colombian_saturday_1459_is_allowed():
    now = bogota(2026, 12, 5, 14, 59)
    assert next_allowed(now, ("America/Bogota",), COLOMBIA) == now


def test_colombian_friday_1900_is_held_until_saturday_0800():
    assert next_allowed(bogota(2026, 12, 4, 19, 0), ("America/Bogota",), COLOMBIA) == bogota(2026, 12, 5, 8, 0)


def test_a_contact_in_another_time_zone_is_judged_in_its_own_local_time():
    # 21:30 in Paris is 15:30 in Bogotá: a French rule read in Bogotá time allows it, read in Paris does not.
    now = paris(2026, 12, 5, 22, 30)
    assert next_allowed(now, ("America/Bogota",), FRANCE) == now
    assert next_allowed(now, ("Europe/Paris",), FRANCE) == paris(2026, 12, 7, 8, 0)


def test_the_hold_is_exact_across_a_dst_change():
    # Sunday 2026-03-29 Europe/Paris springs forward at 02:00; Monday 08:00 is then UTC+2.
    released = next_allowed(paris(2026, 3, 29, 12, 0), ("Europe/Paris",), FRANCE)
    assert released == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)


def test_account_quiet_hours_crossing_midnight_hold_until_their_end():
    rules = TimeRules(quiet=(QuietWindow(start=21 * 60, end=9 * 60),))
    assert next_allowed(paris(2026, 12, 8, 23, 15), ("Europe/Paris",), rules) == paris(2026, 12, 9, 9, 0)
    assert next_allowed(paris(2026, 12, 9, 8, 59), ("Europe/Paris",), rules) == paris(2026, 12, 9, 9, 0)
    now = paris(2026, 12, 9, 20, 59)
    assert next_allowed(now, ("Europe/Paris",), rules) == now


def test_quiet_hours_on_listed_weekdays_only_cover_the_night_starting_that_day():
    friday_night = QuietWindow(start=22 * 60, end=8 * 60, weekdays=frozenset({4}))
    rules = TimeRules(quiet=(friday_night,))
    assert next_allowed(paris(2026, 12, 5, 7, 0), ("Europe/Paris",), rules) == paris(2026, 12, 5, 8, 0)  # Sat 07:00
    thursday_night = paris(2026, 12, 3, 23, 0)
    assert next_allowed(thursday_night, ("Europe/Paris",), rules) == thursday_night


def test_several_candidate_zones_must_all_allow_the_instant():
    # Madrid 08:00 is 07:00 in the Canaries: a Spanish number (either zone) waits for the Canaries' 08:00.
    rules = TimeRules(quiet=(QuietWindow(start=22 * 60, end=8 * 60),))
    madrid = ZoneInfo("Europe/Madrid")
    released = next_allowed(datetime(2026, 12, 8, 7, 30, tzinfo=madrid), ("Europe/Madrid", "Atlantic/Canary"), rules)
    assert released == datetime(2026, 12, 8, 8, 0, tzinfo=ZoneInfo("Atlantic/Canary"))


def test_rules_that_allow_nothing_raise_no_allowed_time():
    rules = TimeRules(allowed={}, quiet=())
    with pytest.raises(NoAllowedTime):
        next_allowed(paris(2026, 12, 8, 12, 0), ("Europe/Paris",), rules)


def test_phone_zones_match_phonenumbers_time_zones_for_number():
    for digits in ("33612345678", "573001234567", "34600000001", "12125551234", "442071234567"):
        expected = phone_timezone.time_zones_for_number(phonenumbers.parse("+" + digits))
        assert phone_zones(digits) == tuple(expected)


def test_recipient_zone_prefers_the_contact_then_the_phone_then_the_country_then_the_account():
    assert recipient_zones(time_zone="Asia/Tokyo", address="33612345678", country="FR", account_zone="UTC") == (
        "Asia/Tokyo",
    )
    assert recipient_zones(time_zone=None, address="12125551234", country="US", account_zone="UTC") == (
        "America/New_York",
    )
    assert recipient_zones(time_zone=None, address="ana@example.com", country="FR", account_zone="UTC") == (
        "Europe/Paris",
    )
    assert recipient_zones(time_zone=None, address="ana@example.com", country=None, account_zone="Europe/Madrid") == (
        "Europe/Madrid",
    )


def test_release_instant_is_the_first_instant_both_the_available_times_and_the_quiet_hours_allow():
    # availableTimes (UTC) opens Sundays 10:00-20:00 and Mondays 09:00-10:00; France allows Monday from 08:00
    # Paris (07:00 UTC), so the message goes Monday 09:00 UTC.
    windows = available_times_parse(
        [{"day": 7, "from": "10:00", "to": "20:00"}, {"day": 1, "from": "09:00", "to": "10:00"}]
    )
    released = release_instant(
        datetime(2026, 12, 6, 11, 0, tzinfo=UTC),
        ("Europe/Paris",),
        FRANCE,
        functools.partial(window_next_start, windows),
    )
    assert released == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
