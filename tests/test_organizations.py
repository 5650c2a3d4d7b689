"""Issue 10: member organizations as data. The consortium file is loaded whole or not at all (every problem
listed), loading it twice changes nothing, and each member's evenings (split, past midnight, closed dates)
say when it is staffed; the consortium-wide next opening comes from them."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows import organizations
from flows.organizations import ConsortiumFileError, load_sample, parse_consortium
from storage import organizations as org_repo
from storage.models import Organization, RoutingRule
from tests.consortium import tokyo

ROOT = Path(__file__).resolve().parents[1]


def snapshot(app):
    with app.extensions["tsunagu"].sessions() as db:
        orgs = [(o.slug, o.name, o.kind, o.takes, o.evenings, o.closed_dates, o.capacity, o.active, o.referral_card,
                 o.updated_at) for o in db.scalars(select(Organization).order_by(Organization.slug))]
        rules = [(r.id, r.position, r.name, r.match, r.targets) for r in db.scalars(select(RoutingRule))]
        return orgs, rules


def test_the_sample_consortium_loads_and_loading_it_again_changes_nothing(app, clock):
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as db:
        first = load_sample(db, clock())
    assert first.added == ["kazokukai", "saposute", "yururi", "hidamari", "kurashi", "center"]
    assert first.rules_changed and first.rules == 6
    before = snapshot(app)
    clock.advance(hours=1)
    with svc.sessions.begin() as db:
        second = load_sample(db, clock())
    assert not second.changes and second.summary().startswith("no change")
    assert snapshot(app) == before  # not even updated_at or a rule's id moved


def test_a_changed_file_changes_only_what_differs(app, clock, tmp_path):
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as db:
        load_sample(db, clock())
    sample = organizations.SAMPLE_FILE.read_text(encoding="utf-8")
    edited = sample.replace("capacity = 2\nclosed", "capacity = 3\nclosed")  # the サポステ member
    path = tmp_path / "consortium.toml"
    path.write_text(edited, encoding="utf-8")
    with svc.sessions.begin() as db:
        report = organizations.load_file(db, path, clock())
    assert report.changed == ["saposute"] and not report.added and not report.rules_changed
    with svc.sessions() as db:
        assert org_repo.by_slug(db, "saposute").capacity == 3


BAD = """
[[organization]]
slug = "Kazoku Kai"
name = ""
kind = "club"
capacity = 0
[organization.takes]
who = ["parents"]
[[organization.evenings]]
weekdays = ["mon", "someday"]
hours = ["16:00-25:00"]

[[organization]]
slug = "ok-member"
name = "よい団体"
kind = "npo"
closed = ["2026-13-01"]
[organization.referral]
contact = "電話 000"

[[route]]
name = "ご家族"
when = { who = ["family"], mood = ["sad"] }
to = ["ok-member", "nobody"]
"""


def test_a_bad_file_is_refused_whole_with_every_problem_listed(app, clock, tmp_path):
    with pytest.raises(ConsortiumFileError) as refused:
        parse_consortium(BAD)
    problems = "\n".join(refused.value.problems)
    for expected in ("slug: lower-case", ".name: required", "kind: 'club'", "capacity", "unknown code 'parents'",
                     "'someday' is not a weekday", "'16:00-25:00' is not a window", "'2026-13-01' is not a date",
                     "a card needs at least what and contact", "unknown key(s) mood", "no organization 'nobody'"):
        assert expected in problems, expected
    path = tmp_path / "bad.toml"
    path.write_text(BAD, encoding="utf-8")
    with app.extensions["tsunagu"].sessions.begin() as db, pytest.raises(ConsortiumFileError):
        organizations.load_file(db, path, clock())
    with app.extensions["tsunagu"].sessions() as db:
        assert db.scalar(select(func.count()).select_from(Organization)) == 0  # nothing written
        assert db.scalar(select(func.count()).select_from(RoutingRule)) == 0


def test_tsunagu_orgs_load_applies_the_file_and_refuses_a_bad_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "DATABASE_URL", "TEST_DATABASE"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'orgs.db'}", "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"})

    def tsunagu(*args):
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)

    sample = str(organizations.SAMPLE_FILE)
    first = tsunagu("orgs", "load", sample)
    assert first.returncode == 0 and "added: kazokukai" in first.stdout
    again = tsunagu("orgs", "load", sample)
    assert again.returncode == 0 and again.stdout.startswith("no change")
    (tmp_path / "bad.toml").write_text(BAD, encoding="utf-8")
    bad = tsunagu("orgs", "load", str(tmp_path / "bad.toml"))
    assert bad.returncode == 1 and "'someday' is not a weekday" in bad.stderr and "nobody" in bad.stderr
    listing = tsunagu("orgs", "list")
    assert "kazokukai" in listing.stdout and "rule 1: ご家族からの相談 -> kazokukai, center" in listing.stdout


def member(evenings, closed=(), active=True):
    return Organization(slug="m", name="m", kind="npo", active=active, evenings=evenings, closed_dates=list(closed))


@pytest.mark.parametrize("jst,staffed", [
    ((2026, 11, 23, 16, 0), True),   # Monday, first window opens
    ((2026, 11, 23, 18, 30), False),  # the break of a split evening
    ((2026, 11, 23, 19, 0), True),
    ((2026, 11, 23, 21, 0), False),  # the end is not included
    ((2026, 11, 24, 17, 0), False),  # Tuesday: no evening
    ((2026, 11, 26, 17, 0), True),   # Thursday
])
def test_a_split_evening(jst, staffed):
    org = member([{"weekdays": ["mon", "thu"], "hours": ["16:00-18:00", "19:00-21:00"]}])
    assert organizations.is_staffed(org, tokyo(*jst)) is staffed


def test_an_evening_past_midnight_belongs_to_the_day_it_started_and_closed_dates_close_it():
    org = member([{"weekdays": ["fri"], "hours": ["22:00-02:00"]}], closed=["2026-11-20"])
    assert organizations.is_staffed(org, tokyo(2026, 11, 28, 1, 0))  # Saturday 01:00: Friday's evening
    assert not organizations.is_staffed(org, tokyo(2026, 11, 29, 1, 0))  # Sunday 01:00: Saturday has none
    assert not organizations.is_staffed(org, tokyo(2026, 11, 21, 1, 0))  # Friday the 20th was closed
    assert organizations.staffed_until(org, tokyo(2026, 11, 27, 23, 0)) == tokyo(2026, 11, 28, 2, 0)
    assert not organizations.is_staffed(member(org.evenings, active=False), tokyo(2026, 11, 28, 1, 0))


def test_the_consortium_wide_next_opening_is_the_earliest_member_evening():
    early = member([{"weekdays": ["tue"], "hours": ["16:00-21:00"]}], closed=["2026-11-24"])
    late = member([{"weekdays": ["wed"], "hours": ["17:00-21:00"]}])
    monday_night = tokyo(2026, 11, 23, 22, 0)
    assert organizations.next_opening([early, late], monday_night) == tokyo(2026, 11, 25, 17, 0)  # Tue is closed
    assert organizations.next_opening([early, late], tokyo(2026, 11, 25, 18, 0)) is None  # someone is on
    assert organizations.next_staffed(early, monday_night) == tokyo(2026, 12, 1, 16, 0)
    assert organizations.next_opening([], monday_night) is None


def test_the_sample_members_are_staffed_as_the_file_says(app, clock):
    with app.extensions["tsunagu"].sessions.begin() as db:
        load_sample(db, clock())
        staffed = {o.slug for o in org_repo.all_organizations(db) if organizations.is_staffed(o, clock())}
        assert staffed == {"kazokukai", "saposute", "hidamari", "center"}  # Monday 17:00
        new_year = datetime(2026, 12, 31, 8, 0, tzinfo=UTC)
        assert {o.slug for o in org_repo.all_organizations(db)
                if organizations.is_staffed(o, new_year)} == {"hidamari"}  # Thursday, not on holiday
        assert organizations.next_opening(org_repo.all_organizations(db), clock() + timedelta(hours=5)) == tokyo(
            2026, 11, 24, 16, 0)
        assert [o.slug for o in organizations.staffed_members(db, clock())] == ["kazokukai", "saposute", "hidamari",
                                                                                "center"]
        after_nine = clock() + timedelta(hours=4, minutes=30)  # Monday 21:30
        assert organizations.consortium_next_opening(db, after_nine) == tokyo(2026, 11, 24, 16, 0)
        assert organizations.consortium_next_opening(db, clock()) is None


def test_the_sample_file_ships_with_the_package():
    from tomllib import loads

    pyproject = loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "*.toml" in pyproject["tool"]["setuptools"]["package-data"]["*"]
    assert organizations.SAMPLE_FILE.parent.name == "flows" and organizations.SAMPLE_FILE.exists()
