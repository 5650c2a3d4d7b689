"""The emergency contacts file and the bubbles built from it: which lines are open at a given moment in
the service's zone, and the words for the person at risk or for a family member."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from flows import texts
from flows.emergency import crisis_bubbles, lines_open_now, load_contacts, parse_window
from flows.triage import Assessment, RiskLevel

TOKYO = ZoneInfo("Asia/Tokyo")


def at(y, mo, d, h, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=TOKYO).astimezone(UTC)


def numbers_open(when, *, service_open=False, audience="self"):
    return {ln.number for _, lines in lines_open_now(when, TOKYO, service_open=service_open, audience=audience)
            for ln in lines}


@pytest.mark.parametrize("when,expected", [
    (at(2026, 11, 23, 3), {"0120-279-338"}),
    (at(2026, 11, 23, 9, 59), {"0120-279-338"}),
    (at(2026, 11, 23, 10), {"0120-279-338", "0570-783-556"}),
    (at(2026, 11, 23, 16), {"0120-279-338", "0570-783-556", "0120-783-556"}),
    (at(2026, 11, 23, 21), {"0120-279-338", "0570-783-556"}),  # the free line closes at 21:00
    (at(2026, 11, 23, 22), {"0120-279-338"}),
    (at(2026, 12, 10, 7, 59), {"0120-279-338"}),
    (at(2026, 12, 10, 8), {"0120-279-338", "0120-783-556"}),  # the 10th: free line from 08:00...
    (at(2026, 12, 11, 7, 59), {"0120-279-338", "0120-783-556"}),  # ...until 08:00 the next day
    (at(2026, 12, 11, 8), {"0120-279-338"}),
])
def test_lines_open_now_follow_each_lines_hours_in_the_service_zone(when, expected):
    assert numbers_open(when) == expected


def test_lines_with_hours_we_cannot_state_are_named_only_while_the_service_is_open():
    night = at(2026, 11, 23, 3)
    assert "0570-064-556" not in numbers_open(night)
    assert {"0570-064-556", "0120-061-338"} <= numbers_open(at(2026, 11, 23, 17), service_open=True)


def test_family_members_get_lines_that_take_families():
    evening = at(2026, 11, 23, 17)
    family = numbers_open(evening, service_open=True, audience="family")
    assert "0120-279-338" in family and "0120-061-338" not in family


@pytest.mark.parametrize("spec,when,is_open", [
    ("always", at(2026, 1, 1, 0), True),
    ("16:00-21:00", at(2026, 1, 1, 15, 59), False),
    ("16:00-21:00", at(2026, 1, 1, 20, 59), True),
    ("22:00-06:00", at(2026, 1, 2, 5, 59), True),  # past midnight: belongs to the day it started
    ("22:00-06:00", at(2026, 1, 2, 6), False),
    ("day10 08:00-08:00", at(2026, 3, 10, 8), True),
    ("day10 08:00-08:00", at(2026, 3, 11, 7), True),
    ("day10 08:00-08:00", at(2026, 3, 10, 7), False),
])
def test_opening_windows(spec, when, is_open):
    assert parse_window(spec).covers(when.astimezone(TOKYO)) is is_open


@pytest.mark.parametrize("bad", ["9-17", "day40 08:00-09:00", "25:00-26:00", "weekdays"])
def test_unreadable_hours_are_refused(bad):
    with pytest.raises(ValueError):
        parse_window(bad)


def test_the_first_bubble_is_119_and_110_then_the_lines_open_now():
    bubbles = crisis_bubbles(RiskLevel.IMMINENT, at(2026, 11, 23, 3), TOKYO, service_open=False)
    assert bubbles[0] == texts.CRISIS_FIRST_IMMINENT and "119" in bubbles[0] and "110" in bubbles[0]
    assert bubbles[1].startswith(texts.CRISIS_LINES_HEADING) and "0120-279-338" in bubbles[1]
    assert "0120-783-556" not in "\n".join(bubbles)
    assert len(bubbles) <= 4  # with the status bubble: one reply of at most 5


def test_a_family_report_gets_what_to_do_and_family_lines():
    assessment = Assessment(RiskLevel.HIGH, ("死にたい",), ("family",), about_other=True)
    bubbles = crisis_bubbles(assessment.level, at(2026, 11, 23, 17), TOKYO, service_open=True,
                             about_other=assessment.about_other)
    assert bubbles[0] == texts.CRISIS_FIRST_FAMILY and "119" in bubbles[0]
    assert bubbles[1] == texts.CRISIS_FAMILY_WHAT_TO_DO
    assert bubbles[2].startswith(texts.CRISIS_LINES_HEADING_FAMILY)
    assert "0120-061-338" not in bubbles[2]


def test_the_shipped_contacts_file_loads_with_every_line_readable():
    contacts = load_contacts()
    numbers = {ln.number for c in contacts.contacts for ln in c.lines}
    assert {"119", "110", "0120-279-338", "0120-783-556", "0570-783-556", "0120-061-338", "0570-064-556"} <= numbers


def test_a_contacts_file_with_a_missing_number_or_without_119_is_refused(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[[contacts]]\nname="x"\nfor="y"\nsource="z"\n[[contacts.lines]]\nhours="24h"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="number"):
        load_contacts(bad)
    no_emergency = tmp_path / "d.toml"
    no_emergency.write_text('[[contacts]]\nname="x"\nfor="y"\nsource="z"\n[[contacts.lines]]\nnumber="1"\n'
                            'hours="24時間"\nopen=["always"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="119 and 110"):
        load_contacts(no_emergency)
