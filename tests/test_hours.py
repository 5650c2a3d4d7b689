"""Service hours in the service's own time zone."""

from datetime import UTC, date, datetime

import pytest

from flows.hours import ServiceHours


def tokyo(y, mo, d, h, mi=0):
    from zoneinfo import ZoneInfo

    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Tokyo"))


DEFAULT = ServiceHours.parse("16:00-21:00", "Asia/Tokyo")


@pytest.mark.parametrize("hour,minute,is_open", [
    (15, 59, False), (16, 0, True), (20, 59, True), (21, 0, False), (3, 0, False),
])
def test_default_hours_are_four_to_nine_in_the_evening_tokyo_time(hour, minute, is_open):
    assert DEFAULT.is_open(tokyo(2026, 11, 23, hour, minute)) is is_open


def test_hours_are_judged_in_the_service_zone_not_utc():
    assert DEFAULT.is_open(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # 17:00 JST
    assert not DEFAULT.is_open(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))  # 01:00 JST


def test_a_window_over_midnight():
    night = ServiceHours.parse("22:00-02:00", "Asia/Tokyo")
    assert night.is_open(tokyo(2026, 11, 23, 23, 30))
    assert night.is_open(tokyo(2026, 11, 24, 1, 59))
    assert not night.is_open(tokyo(2026, 11, 24, 2, 0))
    assert not night.is_open(tokyo(2026, 11, 24, 12, 0))


def test_always_is_open_at_any_hour():
    always = ServiceHours.parse("always")
    assert always.is_open(tokyo(2026, 11, 24, 4, 0))
    assert always.next_opening(tokyo(2026, 11, 24, 4, 0)) is None


def test_closed_dates_close_the_whole_session_including_past_midnight():
    hours = ServiceHours.parse("16:00-21:00", "Asia/Tokyo", [date(2026, 12, 31)])
    assert not hours.is_open(tokyo(2026, 12, 31, 17, 0))
    assert hours.next_opening(tokyo(2026, 12, 31, 17, 0)) == tokyo(2027, 1, 1, 16, 0)


def test_next_opening_is_worded_for_the_user():
    assert DEFAULT.describe_next_opening(tokyo(2026, 11, 23, 10, 0)) == "今日の16:00"
    assert DEFAULT.describe_next_opening(tokyo(2026, 11, 23, 22, 0)) == "明日（11月24日）の16:00"


@pytest.mark.parametrize("spec", ["16-21", "25:00-26:00", "16:00-16:00", "abc"])
def test_unreadable_hours_are_refused(spec):
    with pytest.raises(ValueError, match="SERVICE_HOURS"):
        ServiceHours.parse(spec)
