"""Issue 10: admins edit the member organizations in the console (list, edit, activate/deactivate), with the
CSRF token like every console form, checked by the consortium file's own rules; nobody else may."""

import re

from flows import organizations
from storage import organizations as org_repo
from storage import staff as staff_repo
from storage.models import AuditEvent
from tests.consortium import PASSWORD, SELF_20S_WORK, answer_intake, latest

pytest_plugins = ["tests.consortium_fixtures"]


def signed_in(app, client, login, role, slug=None, clock=None):
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = org_repo.by_slug(db, slug) if slug else org_repo.all_organizations(db)[0]
        staff_repo.create(db, login, PASSWORD, role, org, clock())
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/console/login", data={"login": login, "password": PASSWORD, "csrf_token": token}
                       ).status_code == 302
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console/").get_data(as_text=True)).group(1)


def form(**changes):
    data = {"name": "きたの若者サポートステーション", "kind": "youth_support_station", "capacity": "2", "active": "1",
            "who": ["self"], "age_bands": ["10s", "20s", "30s", "40s"], "areas": "",
            "evenings": "mon,tue,wed,thu,fri 16:00-20:00", "closed": "",
            "referral_what": "働きたい気持ちを応援します", "referral_contact": "メール x@example.org",
            "referral_hours": "月〜金", "referral_url": ""}
    data.update(changes)
    return data


def test_an_admin_lists_and_edits_a_member(app, client, consortium, clock):
    csrf = signed_in(app, client, "admin1", "admin", clock=clock)
    page = client.get("/console/orgs/").get_data(as_text=True)
    assert "きたの若者サポートステーション" in page and "受付中" in page and "ご家族からの相談" in page
    r = client.post("/console/orgs/saposute", data=form(csrf_token=csrf, capacity="5",
                                                         evenings="月火 16:00-18:00,19:00-21:00"))
    assert r.status_code == 302 and "m=saved" in r.headers["Location"]
    with app.extensions["tsunagu"].sessions() as db:
        org = org_repo.by_slug(db, "saposute")
        assert org.capacity == 5
        assert org.evenings == [{"weekdays": ["mon", "tue"], "hours": ["16:00-18:00", "19:00-21:00"]}]
        assert organizations.referral_card(org)["contact"] == "メール x@example.org"
        assert [e.detail for e in db.query(AuditEvent).filter_by(action="org_edit")] == ["organization saposute"]
    assert "保存しました" in client.get("/console/orgs/?m=saved").get_data(as_text=True)


def test_a_bad_edit_is_refused_with_every_problem_and_nothing_changes(app, client, consortium, clock):
    csrf = signed_in(app, client, "admin1", "admin", clock=clock)
    r = client.post("/console/orgs/saposute", data=form(csrf_token=csrf, capacity="many", evenings="someday 16-20",
                                                         referral_url="http://plain.example.org"))
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "保存できませんでした" in page
    assert "capacity" in page and "someday" in page and "https://" in page
    assert 'value="http://plain.example.org"' in page and 'value="many"' in page  # what was typed stays
    with app.extensions["tsunagu"].sessions() as db:
        assert org_repo.by_slug(db, "saposute").capacity == 2


def test_a_deactivated_member_gets_no_new_consultations(app, client, make_user, consortium, clock):
    csrf = signed_in(app, client, "admin1", "admin", clock=clock)
    r = client.post("/console/orgs/saposute/active", data={"active": "0", "csrf_token": csrf})
    assert r.status_code == 302
    assert "休止中" in client.get("/console/orgs/").get_data(as_text=True)
    answer_intake(make_user(), SELF_20S_WORK)
    assert latest(app).organization.is_default
    client.post("/console/orgs/saposute/active", data={"active": "1", "csrf_token": csrf})
    answer_intake(make_user(), SELF_20S_WORK)
    assert latest(app).organization.slug == "saposute"


def test_changes_need_the_csrf_token(app, client, consortium, clock):
    signed_in(app, client, "admin1", "admin", clock=clock)
    assert client.post("/console/orgs/saposute", data=form()).status_code == 400
    assert client.post("/console/orgs/saposute/active", data={"active": "0"}).status_code == 400
    with app.extensions["tsunagu"].sessions() as db:
        assert org_repo.by_slug(db, "saposute").active


def test_only_admins_may_open_the_page(app, client, consortium, clock):
    assert client.get("/console/orgs/").status_code == 302  # not signed in: the login page
    csrf = signed_in(app, client, "coord1", "coordinator", slug="saposute", clock=clock)
    assert client.get("/console/orgs/").status_code == 403
    assert client.get("/console/orgs/saposute").status_code == 403
    assert client.post("/console/orgs/saposute/active", data={"active": "0", "csrf_token": csrf}).status_code == 403
