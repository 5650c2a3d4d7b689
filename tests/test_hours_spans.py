"""The stretch of opening hours a moment falls in (flows/hours.py `open_span`): what the closing notice and the
close count from, with split evenings, touching windows, windows over midnight and holidays."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from flows.hours import ServiceHours

TOKYO = ZoneInfo("Asia/Tokyo")


def at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=TOKYO)


@pytest.mark.parametrize("spec,now,span", [
    ("16:00-21:00", at(23, 20, 45), (at(23, 16), at(23, 21))),
    ("16:00-21:00", at(23, 21, 0), None),
    ("16:00-18:00,19:00-21:00", at(23, 17, 59), (at(23, 16), at(23, 18))),
    ("16:00-18:00,19:00-21:00", at(23, 18, 30), None),
    ("16:00-18:00,18:00-21:00", at(23, 17, 0), (at(23, 16), at(23, 21))),  # touching windows: one stretch
    ("22:00-02:00", at(24, 1, 0), (at(23, 22), at(24, 2))),  # over midnight: belongs to the day it started
])
def test_the_open_stretch_and_when_it_closes(spec, now, span):
    assert ServiceHours.parse(spec, "Asia/Tokyo").open_span(now) == span


def test_always_open_closes_only_at_a_holiday():
    hours = ServiceHours.parse("always", "Asia/Tokyo", [date(2026, 11, 25)])
    assert hours.open_span(at(23, 12))[1] == at(25, 0)


def test_the_next_opening_after_a_holiday_names_the_weekday():
    hours = ServiceHours.parse("16:00-21:00", "Asia/Tokyo", [date(2026, 11, 24)])
    assert hours.describe_next_opening(at(23, 22)) == "11月25日（水）の16:00"
