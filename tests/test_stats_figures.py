"""Every statistics figure against a hand-built dataset with known answers (tests/stats_data.py), on
SQLite and on PostgreSQL (TEST_DATABASE_URL): counts, medians, percentiles, fiscal-year and midnight JST
boundaries, training excluded, small counts suppressed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from storage import stats
from storage.db import make_session_factory
from tests.stats_data import EXPECTED, build, jst

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
FY = stats.fiscal_year(2025)
ALL = stats.Scope()


@pytest.fixture
def data(db):
    sessions = make_session_factory(db)
    with sessions.begin() as s:
        built = build(s, NOW)
    with sessions() as s:
        yield s, built


def test_fiscal_year_runs_from_midnight_1_april_jst_to_midnight_1_april_jst():
    assert FY.start == datetime(2025, 3, 31, 15, 0, tzinfo=UTC)
    assert FY.end == datetime(2026, 3, 31, 15, 0, tzinfo=UTC)
    assert (FY.first_day, FY.last_day) == (date(2025, 4, 1), date(2026, 3, 31))
    assert len(FY.days) == 365
    assert stats.fiscal_year_of(date(2026, 3, 31)) == 2025 and stats.fiscal_year_of(date(2026, 4, 1)) == 2026
    june = stats.month(2025, 6)
    assert (june.start, june.end) == (jst(2025, 6, 1, 0, 0), jst(2025, 7, 1, 0, 0))
    assert stats.month(2025, 12).end == jst(2026, 1, 1, 0, 0)


def test_percentile_is_linear_interpolation_between_closest_ranks():
    assert stats.percentile([60, 60, 120, 180, 240, 300, 400, 600, 900], 0.5) == 240
    assert stats.percentile([60, 60, 120, 180, 240, 300, 400, 600, 900], 0.9) == pytest.approx(660)
    assert stats.percentile([0, 400], 0.9) == pytest.approx(360)
    assert stats.percentile([10, 20, 30, 40], 0.5) == 25
    assert stats.percentile([7], 0.9) == 7
    assert stats.percentile([], 0.5) is None


def test_consultation_counts_follow_the_fiscal_year_boundaries_and_leave_training_out(data):
    s, _ = data
    c = stats.consultations(s, FY, ALL)
    # 2025-04-01 00:00:00 and 2026-03-31 23:59:59 JST are in; 2025-03-31 23:59:59 and 2026-04-01 00:00 are out;
    # the training consultation and the intake that never reached the queue are out.
    assert c["total"] == EXPECTED["total"]
    # 10 people: c13's client came first in FY2025 too (c1), c5's client had come in FY2024 -> 1 returning.
    assert (c["clients"], c["new_clients"], c["returning_clients"]) == (10, 9, 1)
    assert c["by_who"] == EXPECTED["by_who"]
    assert c["by_age_band"] == {"10s": 1, "20s": 5, "30s": 2, "40s": 2, "50plus": 1}
    assert c["by_who_age"]["family/40s"] == 2 and c["by_who_age"]["self/20s"] == 4
    assert c["by_area"] == {"旭川市": 1, "札幌市": 10}
    assert c["by_concern"] == {"family": 1, "health": 1, "work": 9}
    assert stats.consultations(s, stats.fiscal_year(2024), ALL)["total"] == 1
    assert stats.consultations(s, stats.fiscal_year(2026), ALL)["total"] == 1


def test_training_consultations_are_shown_on_their_own_when_asked(data):
    s, _ = data
    only = stats.Scope(training="only")
    assert stats.consultations(s, FY, only)["total"] == 1
    assert stats.service(s, FY, only)["wait"] == {"n": 1, "median": 5.0, "p90": 5.0}
    assert stats.milestones(s, FY, only)["support_station"] == 1
    assert stats.milestones(s, FY, ALL)["support_station"] == 0


def test_service_figures_have_the_known_medians_and_percentiles(data):
    s, _ = data
    f = stats.service(s, FY, ALL)
    assert f["wait"] == EXPECTED["wait"]
    assert f["first_response"] == EXPECTED["first_response"]
    assert f["length"] == EXPECTED["length"]
    assert (f["queued"], f["answered"], f["left_unanswered"]) == (11, 9, 2)
    assert f["left_share"] == pytest.approx(2 / 11, abs=1e-4)
    assert f["crisis_by_level"] == {"moderate": 1, "high": 2, "imminent": 1}
    assert f["crisis_to_human"] == {"n": 2, "median": 200.0, "p90": 360.0, "crises": 3, "unreached": 1,
                                    "within_5min": 1, "share_within_5min": pytest.approx(1 / 3, abs=1e-4)}
    assert f["survey"] == {"good": 1, "ok": 1, "bad": 1, "asked": 9, "answered": 3}


def test_one_organization_sees_only_its_own_figures(data):
    s, built = data
    a = stats.Scope((built.orgs["org-a"].id,))
    assert stats.consultations(s, FY, a)["total"] == 7
    # org A waits: 60 (c1), 120 (c2), 180 (c3), 60 (c8), 300 (c13) -> median 120, p90 180 + 0.6 * 120 = 252
    assert stats.service(s, FY, a)["wait"] == {"n": 5, "median": 120.0, "p90": 252.0}
    assert stats.outside_hours(s, FY, a) is None  # belongs to no member organization
    load = stats.load(s, FY, a)
    assert [r["organization"] for r in load["organizations"]] == ["org-a"]
    assert {r["counselor"]: r["consultations"] for r in load["counselors"]} == {"相談員X": 3, "相談員Y": 2}


def test_referrals_are_counted_by_destination_category(data):
    s, _ = data
    assert stats.referrals(s, FY, ALL) == EXPECTED["referrals"]  # 行政窓口 counts as その他


def test_milestones_count_each_client_once_per_kind_by_the_day_it_happened(data):
    s, _ = data
    m = stats.milestones(s, FY, ALL)
    assert {k: m[k] for k in stats.MILESTONE_KINDS} == {"group_program": 2, "family_association": 1,
                                                        "support_station": 0, "job_search": 0, "next_step": 1}
    assert m["next_step_by"] == {"work": 1}
    assert stats.milestones(s, stats.fiscal_year(2026), ALL)["job_search"] == 1


def test_outside_hours_contacts_count_messages_and_clients(data):
    s, _ = data
    assert stats.outside_hours(s, FY, ALL) == {"messages": 3, "clients": 2}
    assert stats.outside_hours(s, FY, stats.Scope(training="only")) == {"messages": 1, "clients": 1}


def test_load_per_member_and_per_counselor(data):
    s, _ = data
    load = stats.load(s, FY, ALL)
    assert [(r["organization"], r["consultations"], r["answered"], r["left_unanswered"], r["crises"])
            for r in load["organizations"]] == [("org-a", 7, 5, 2, 2), ("org-b", 4, 4, 0, 1)]
    by = {r["counselor"]: r for r in load["counselors"]}
    assert {k: v["consultations"] for k, v in by.items()} == {"相談員X": 3, "相談員Y": 2, "相談員Z": 4}
    assert by["相談員X"]["median_length"] == 1500.0  # 1200, 1500, 1800


def test_days_are_cut_at_midnight_jst(data):
    s, _ = data
    june = stats.month(2025, 6)
    days = dict(stats.per_day(s, june, ALL))
    # 23:30 and 00:10 JST fall on the same UTC day but on two local days.
    assert days[date(2025, 6, 10)] == 1 and days[date(2025, 6, 11)] == 1
    assert sum(days.values()) == 2 and len(days) == 30
    grid = stats.heatmap(s, june, ALL)
    assert grid[1][23] == 1 and grid[2][0] == 1  # Tuesday 23h, Wednesday 0h
    assert sum(map(sum, grid)) == 2
    fy_grid = stats.heatmap(s, FY, ALL)
    assert fy_grid[1][0] == 1  # 2025-04-01 00:00 JST was a Tuesday
    waits = stats.waits_over_time(s, june, ALL)
    assert [(p["day"], p["n"], p["median"]) for p in waits] == [(date(2025, 6, 10), 1, 120.0),
                                                               (date(2025, 6, 11), 1, 180.0)]


def test_waits_over_a_long_period_are_grouped_by_week_starting_monday_jst(data):
    s, _ = data
    weeks = [(p["day"], p["n"], p["median"]) for p in stats.waits_over_time(s, FY, ALL)]
    assert weeks == [(date(2025, 3, 31), 1, 60.0), (date(2025, 5, 5), 1, 300.0), (date(2025, 6, 9), 2, 150.0),
                     (date(2025, 6, 30), 1, 400.0), (date(2025, 7, 28), 1, 60.0), (date(2025, 9, 15), 1, 240.0),
                     (date(2025, 9, 29), 1, 900.0), (date(2026, 3, 30), 1, 600.0)]


def test_custom_periods_include_both_days():
    p = stats.custom(date(2025, 6, 10), date(2025, 6, 10))
    assert (p.start, p.end) == (jst(2025, 6, 10, 0, 0), jst(2025, 6, 11, 0, 0))
    with pytest.raises(ValueError):
        stats.custom(date(2025, 6, 11), date(2025, 6, 10))


def test_small_counts_are_shown_as_under_5_only_across_member_organizations():
    assert stats.shown(3, True) == "<5"
    assert stats.shown(4, True) == "<5"
    assert stats.shown(5, True) == 5
    assert stats.shown(0, True) == 0
    assert stats.shown(3, False) == 3
    assert stats.Scope().crosses_members and stats.Scope((1, 2)).crosses_members
    assert not stats.Scope((1,)).crosses_members


def test_first_response_rollup_keeps_the_earliest_counselor_message(data):
    s, built = data
    from storage.models import Consultation

    c1 = s.get(Consultation, built.cids["c1"])
    assert (c1.first_response_at - c1.claimed_at).total_seconds() == 30  # stored after the 100 s one
