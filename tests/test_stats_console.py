"""/console/stats as coordinators meet it: who may see what, suppression of small counts across member
organizations, CSV exports (audited, and free of message text, LINE IDs and staff notes), milestones
recorded from the console, friends counted from real follow/unfollow webhooks, and `tsunagu stats`."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.cli import main as cli_main
from storage import staff as staff_repo
from storage import stats
from storage.models import AuditEvent, Client, Milestone, Staff
from tests.stats_data import LINE_ID, SECRET_MESSAGE, SECRET_NOTE, build, jst

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)  # FY2026; the tests ask for FY2025
FY = "?period=fy&fy=2025"


@pytest.fixture
def built(app, clock):
    clock.set(NOW)
    with app.extensions["tsunagu"].sessions.begin() as db:
        return build(db, NOW)


def login(client, app, login_name: str) -> None:
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as db:  # a real server-side session, as a login would start it
        staff = db.scalar(select(Staff).where(Staff.login == login_name))
        sid = staff_repo.start_session(db, staff, svc.clock())
    with client.session_transaction() as sess:
        sess["sid"] = sid
        sess["csrf"] = "csrf-token"


def rows(response) -> dict[tuple[str, str], str]:
    assert response.status_code == 200, response.data[:300]
    return {(r[0], r[1]): r[2] for r in csv.reader(io.StringIO(response.get_data(as_text=True)))}


def audits(app) -> list[str]:
    with app.extensions["tsunagu"].sessions() as db:
        return [f"{a.action} {a.detail}" for a in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_counselors_get_403_and_strangers_the_login_page(client, app, built):
    assert client.get("/console/stats/").status_code == 302
    assert client.get("/console/stats/export/consultations.csv" + FY).status_code == 401
    login(client, app, "counselor-x")
    assert client.get("/console/stats/").status_code == 403
    assert client.get("/console/stats/export/aggregates.csv" + FY).status_code == 403
    assert client.get("/console/stats/export/consultations.csv" + FY).status_code == 403
    assert audits(app) == []


def test_a_coordinator_sees_their_own_organization_with_exact_small_counts(client, app, built):
    login(client, app, "coord-a")
    r = rows(client.get("/console/stats/export/aggregates.csv" + FY))
    assert r[("scope", "organization")] == "org-a"
    assert r[("consultations", "total")] == "7"
    assert r[("consultations.by_who", "family")] == "2"  # one organization: not suppressed
    assert r[("service.wait", "median_seconds")] == "120.0"
    assert ("load.organization.org-b", "consultations") not in r
    assert client.get("/console/stats/export/aggregates.csv" + FY + "&org=org-b").status_code == 403
    page = client.get("/console/stats/" + FY)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "2025年度" in html and "org-a" in html and "<svg" in html
    assert "NPO法人B" not in html


def test_the_consortium_sees_every_member_with_counts_below_5_suppressed(client, app, built):
    login(client, app, "consortium")
    r = rows(client.get("/console/stats/export/aggregates.csv" + FY))
    assert r[("scope", "organization")] == "all"
    assert r[("consultations", "total")] == "11"
    assert r[("consultations.by_who", "self")] == "6"
    assert r[("consultations.by_who", "family")] == "<5"
    assert r[("consultations.by_who", "other")] == "<5"
    assert r[("referrals", "medical")] == "<5" and r[("referrals", "ibasho")] == "0"
    assert r[("service.wait", "median_seconds")] == "240.0" and r[("service.wait", "p90_seconds")] == "660.0"
    assert r[("service.crisis_to_human", "median_seconds")] == "<5"  # 2 crises answered: too few to show
    assert r[("load.organization.org-b", "consultations")] == "<5"
    assert r[("per_day", "2025-06-10")] == "<5" and r[("per_day", "2025-06-12")] == "0"
    assert r[("service.outside_hours", "messages")] == "<5"
    one = rows(client.get("/console/stats/export/aggregates.csv" + FY + "&org=org-b"))
    assert one[("consultations", "total")] == "4" and one[("consultations.by_who", "family")] == "1"
    html = client.get("/console/stats/" + FY).get_data(as_text=True)
    assert "&lt;5" in html and "NPO法人B" in html
    crisis_row = re.search(r"<tr><th>危機（高リスク・緊急）で相談員が入るまで</th>(.*?)</tr>", html).group(1)
    assert crisis_row.count("&lt;5件") == 2  # the times of 2 crises are not shown across members


def test_every_export_is_in_the_audit_log(client, app, built):
    login(client, app, "consortium")
    client.get("/console/stats/export/aggregates.csv" + FY)
    body = client.get("/console/stats/export/consultations.csv" + FY).get_data()
    assert body
    assert audits(app) == ["stats_export aggregates 2025-04-01..2026-03-31 org=all training=exclude",
                           "stats_export consultations 2025-04-01..2026-03-31 org=all training=exclude"]


def test_the_consultation_export_has_no_text_no_line_id_and_no_notes(client, app, built):
    login(client, app, "consortium")
    text = client.get("/console/stats/export/consultations.csv" + FY).get_data(as_text=True)
    for secret in (SECRET_MESSAGE, SECRET_NOTE, LINE_ID, "相談員の返信", "相談者-", "hash-"):
        assert secret not in text
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 11
    assert list(table[0]) == list(stats.EXPORT_COLUMNS)
    c1 = next(r for r in table if r["created_at"] == "2025-04-01 00:00:00")
    assert c1["wait_seconds"] == "60" and c1["who"] == "self" and c1["referral_category"] == "family_association"
    assert c1["milestones"] == "family_association;group_program;group_program"
    assert c1["returning"] == "0" and c1["survey"] == "good" and c1["training"] == "0"
    # The same client keeps the same key; the key is not the console pseudonym.
    c13 = next(r for r in table if r["created_at"] == "2025-05-05 18:00:00")
    assert c13["client_key"] == c1["client_key"] and c13["returning"] == "1"
    assert len({r["client_key"] for r in table}) == 10
    training = list(csv.DictReader(io.StringIO(client.get(
        "/console/stats/export/consultations.csv" + FY + "&training=only").get_data(as_text=True))))
    assert [r["training"] for r in training] == ["1"]


@pytest.mark.parametrize("query", ["?period=fy&fy=abc", "?period=week", "?period=month&month=2025-13",
                                   "?period=custom&from=2025-06-02&to=2025-06-01", "?period=custom&from=x&to=y",
                                   "?period=custom&from=2015-01-01&to=2025-06-01", FY + "&training=maybe",
                                   FY + "&org=nowhere"])
def test_bad_filters_get_400(client, app, built, query):
    login(client, app, "consortium")
    assert client.get("/console/stats/" + query).status_code == 400


def test_month_and_custom_periods(client, app, built):
    login(client, app, "coord-a")
    june = rows(client.get("/console/stats/export/aggregates.csv?period=month&month=2025-06"))
    assert june[("consultations", "total")] == "2"
    day = rows(client.get("/console/stats/export/aggregates.csv?period=custom&from=2025-06-11&to=2025-06-11"))
    assert day[("consultations", "total")] == "1"  # 00:10 JST on the 11th, 15:10 UTC on the 10th


def test_a_counselor_records_a_milestone_and_it_is_counted(client, app, built):
    login(client, app, "counselor-z")  # organization B
    cid_a, cid_b = built.cids["c6"], built.cids["c10"]
    headers = {"X-CSRF-Token": "csrf-token"}
    url = f"/api/v1/consultations/{cid_b}/milestones"
    assert client.post(url, json={"kind": "support_station", "occurred_on": "2025-11-01"},
                       headers=headers).status_code == 201
    assert client.post(url, json={"kind": "next_step", "occurred_on": "2025-11-02"}, headers=headers).status_code == 400
    assert client.post(url, json={"kind": "next_step", "next_step": "school", "occurred_on": "2025-11-02"},
                       headers=headers).status_code == 201
    assert client.post(url, json={"kind": "became_famous"}, headers=headers).status_code == 400
    assert client.post(url, json={"kind": "job_search", "occurred_on": "2026-05-02"},
                       headers=headers).status_code == 400  # tomorrow (JST)
    assert client.post(url, json={"kind": "job_search"}).status_code == 400  # no CSRF token
    assert client.post(f"/api/v1/consultations/{cid_a}/milestones", json={"kind": "job_search"},
                       headers=headers).status_code == 403  # another organization's consultation
    listed = client.get(url).get_json()["milestones"]
    assert [(m["kind"], m["next_step"]) for m in listed] == [("support_station", None), ("next_step", "school")]
    # The chat page's form (no script): today by default.
    page = client.get(f"/console/c/{cid_b}").get_data(as_text=True)
    assert 'id="milestoneform"' in page
    r = client.post(f"/console/c/{cid_b}/milestones", data={"kind": "job_search", "csrf_token": "csrf-token"})
    assert r.status_code == 302 and "milestone=recorded" in r.headers["Location"]
    with app.extensions["tsunagu"].sessions() as db:
        assert db.scalar(select(func.count()).select_from(Milestone).where(Milestone.kind == "job_search",
                                                                          Milestone.occurred_on == NOW.date())) == 1
        m = stats.milestones(db, stats.fiscal_year(2025), stats.Scope())
        assert m["support_station"] == 1 and m["next_step_by"] == {"work": 1, "school": 1}
    assert sum(a.startswith("milestone ") for a in audits(app)) == 3


def test_friends_are_counted_from_follow_and_unfollow_webhooks(app, user, make_user, clock):
    other, earlier, practice = make_user(), make_user(), make_user()
    clock.set(jst(2025, 3, 31, 23, 59, 59))
    earlier.follows()  # FY2024
    clock.set(jst(2025, 4, 1, 0, 0, 0))
    user.follows()
    clock.set(jst(2025, 5, 1, 18, 0))
    user.blocks()
    clock.set(jst(2025, 6, 1, 18, 0))
    user.follows()  # blocked, then came back
    other.follows()
    practice.follows()
    with app.extensions["tsunagu"].sessions.begin() as db:
        db.execute(Client.__table__.update().where(Client.id == db.scalar(
            select(func.max(Client.id)))).values(is_training=True))
    with app.extensions["tsunagu"].sessions() as db:
        f = stats.friends(db, stats.fiscal_year(2025), stats.Scope())
        assert f == {"follows": 3, "new_follows": 2, "refollows": 1, "blocks": 1, "net": 2, "cumulative": 3}
        assert stats.friends(db, stats.fiscal_year(2024), stats.Scope())["follows"] == 1
        assert stats.friends(db, stats.month(2025, 5), stats.Scope()) == {
            "follows": 0, "new_follows": 0, "refollows": 0, "blocks": 1, "net": -1, "cumulative": 1}
        assert stats.friends(db, stats.month(2025, 6), stats.Scope()) == {
            "follows": 2, "new_follows": 1, "refollows": 1, "blocks": 0, "net": 2, "cumulative": 3}
        assert stats.friends(db, stats.fiscal_year(2025), stats.Scope(training="only"))["follows"] == 1


def test_the_stats_command_prints_the_same_figures(app, built, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-0123456789abcdef-0123456789")
    assert cli_main(["stats", "--fy", "2025"]) == 0
    out = capsys.readouterr().out
    assert "2025年度" in out and "相談件数: 11" in out and "相談員が入るまでの待ち時間: 9 / 4.0分 / 11.0分" in out
    assert cli_main(["stats", "--fy", "2025", "--org", "org-b", "--csv", "aggregates"]) == 0
    r = {(row[0], row[1]): row[2] for row in csv.reader(io.StringIO(capsys.readouterr().out))}
    assert r[("consultations", "total")] == "4"
    assert cli_main(["stats", "--fy", "2025", "--csv", "consultations"]) == 0
    text = capsys.readouterr().out
    assert len(text.strip().splitlines()) == 12 and SECRET_MESSAGE not in text and LINE_ID not in text
    assert [a.split(" ")[0] for a in audits(app)] == ["stats_export", "stats_export"]
    assert all(a.endswith("via cli") for a in audits(app))
