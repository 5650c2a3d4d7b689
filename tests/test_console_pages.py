"""The console's management pages as staff meet them (issue 12): staff management for admins, changing
one's own password, saved replies, labels, and the audit log in JST with Japanese action names. Every
refusal is in Japanese, next to the field that caused it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.console import texts
from storage import audit
from storage import consultations as consultation_repo
from storage import labels as label_repo
from storage import staff as staff_repo
from storage.models import AuditEvent, CannedReply, Label, Organization, Staff
from tests.test_security_findings import waiting_consultations

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a quiet evening walk by the river"
CSRF = {"csrf_token": "csrf-token"}


@pytest.fixture
def people(app, clock):
    """An admin, a coordinator and a counselor in the default organization; a second organization."""
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        db.add(Organization(slug="other-npo", name="ほかのNPO", created_at=clock()))
        for login, role in [("admin1", "admin"), ("coord1", "coordinator"), ("counselor1", "counselor")]:
            staff_repo.create(db, login, PASSWORD, role, org, clock(), login.upper())
    return app


def sign_in(app, client, login):
    """A real server-side session, as the login page starts it (its CSRF token is "csrf-token")."""
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as db:
        sid = staff_repo.start_session(db, staff_repo.by_login(db, login), svc.clock())
    with client.session_transaction() as s:
        s["sid"], s["csrf"] = sid, "csrf-token"
    return client


def error_next_to(page: str, field: str) -> str:
    """The message in the error slot of `field` (the slot right after the input)."""
    m = re.search(rf'<span class="field-error" data-for="{field}">([^<]*)</span>', page)
    return m.group(1) if m else ""


def staff_row(app, login):
    with app.extensions["tsunagu"].sessions() as db:
        return db.scalar(select(Staff).where(Staff.login == login))


# --- staff management -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["coord1", "counselor1"])
def test_only_admins_manage_staff(people, client, who):
    sign_in(people, client, who)
    assert client.get("/console/staff").status_code == 403
    assert client.post("/console/staff", data={**CSRF, "login": "x"}).status_code == 403


def test_an_admin_adds_a_counselor_who_can_then_log_in(people, client):
    sign_in(people, client, "admin1")
    form = {**CSRF, "login": "new-counselor", "display_name": "新人C", "role": "counselor", "organization": "other-npo",
            "max_active": "2", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    r = client.post("/console/staff", data=form)
    assert r.status_code == 302
    member = staff_row(people, "new-counselor")
    assert (member.role, member.max_active, member.display_name) == ("counselor", 2, "新人C")
    other = people.test_client()
    page = other.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert other.post("/console/login", data={"login": "new-counselor", "password": NEW_PASSWORD,
                                              "csrf_token": token}).status_code == 302


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"password": "short"}, "password", "パスワードは12文字以上にしてください。"),
    ({"password": "password1234", "password_again": "password1234"}, "password",
     "よく使われるパスワードです。自分だけの長いフレーズにしてください。"),
    ({"password_again": "something else entirely"}, "password_again", texts.PASSWORD_MISMATCH),
    ({"login": "counselor1"}, "login", texts.LOGIN_TAKEN),
    ({"login": "新人さん"}, "login", "ログインIDに使えない文字が含まれています。"),
    ({"login": "ab"}, "login", "ログインIDは3文字以上にしてください。"),
    ({"organization": "nowhere"}, "organization", texts.UNKNOWN_ORGANIZATION),
    ({"max_active": "0"}, "max_active", "同時に担当できる件数は1以上にしてください。"),
    ({"max_active": "many"}, "max_active", "同時に担当できる件数は数字で入力してください。"),
    ({"display_name": ""}, "display_name", "表示名を入力してください。"),
])
def test_adding_staff_refuses_bad_input_in_japanese_next_to_the_field(people, client, change, field, message):
    sign_in(people, client, "admin1")
    form = {**CSRF, "login": "new-counselor", "display_name": "新人C", "role": "counselor", "organization": "default",
            "max_active": "", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD, **change}
    r = client.post("/console/staff", data=form)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert error_next_to(page, field) == message
    assert NEW_PASSWORD not in page  # a password is never echoed back
    assert staff_row(people, "new-counselor") is None or change.get("login") == "counselor1"


def test_an_admin_changes_organization_role_and_limit_and_the_limit_holds(people, client, clock):
    sign_in(people, client, "admin1")
    member = staff_row(people, "counselor1")
    r = client.post(f"/console/staff/{member.id}", data={**CSRF, "display_name": "相談員A", "role": "counselor",
                                                        "organization": "default", "max_active": "1"})
    assert r.status_code == 302 and staff_row(people, "counselor1").max_active == 1
    first, second = waiting_consultations(people, clock, 2)
    with people.extensions["tsunagu"].sessions.begin() as db:
        token = staff_repo.issue_token(staff_repo.by_login(db, "counselor1"), clock())
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/v1/consultations/{first}/claim", headers=auth).status_code == 200
    r = client.post(f"/api/v1/consultations/{second}/claim", headers=auth)
    assert r.status_code == 409 and r.json["error"] == "同時に担当できるのは1件までです"
    r = client.post(f"/console/staff/{member.id}", data={**CSRF, "display_name": "相談員A", "role": "coordinator",
                                                        "organization": "other-npo", "max_active": ""})
    assert r.status_code == 302
    with people.extensions["tsunagu"].sessions() as db:
        changed = staff_repo.by_login(db, "counselor1")
        assert (changed.role, changed.organization.slug, changed.max_active) == ("coordinator", "other-npo", None)
    assert "counselor default 1 -> coordinator other-npo None" in [a.detail for a in audits(people, "staff_edit")][-1]


def test_an_admin_cannot_take_away_their_own_admin_role_or_disable_themselves(people, client):
    sign_in(people, client, "admin1")
    me = staff_row(people, "admin1")
    r = client.post(f"/console/staff/{me.id}", data={**CSRF, "display_name": "A", "role": "counselor",
                                                    "organization": "default"})
    assert r.status_code == 400 and texts.NOT_YOURSELF in r.get_data(as_text=True)
    assert client.post(f"/console/staff/{me.id}/disable", data=CSRF).status_code == 400
    assert staff_row(people, "admin1").active and staff_row(people, "admin1").role == "admin"


def test_disabling_ends_the_counselors_session_and_tokens_at_once_and_enabling_lets_them_back(people, clock):
    admin, counselor = sign_in(people, people.test_client(), "admin1"), sign_in(people, people.test_client(),
                                                                                  "counselor1")
    with people.extensions["tsunagu"].sessions.begin() as db:
        token = staff_repo.issue_token(staff_repo.by_login(db, "counselor1"), clock())
    assert counselor.get("/api/v1/workspace").status_code == 200
    member = staff_row(people, "counselor1")
    page = admin.post(f"/console/staff/{member.id}/disable", data=CSRF).get_data(as_text=True)
    assert "COUNSELOR1さんを停止しました。ログインは直ちに終了しました。" in page
    assert counselor.get("/api/v1/workspace").status_code == 401
    assert counselor.get("/console/").status_code == 302
    assert people.test_client().get("/api/v1/workspace",
                                    headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert admin.post(f"/console/staff/{member.id}/enable", data=CSRF).status_code == 302
    assert staff_row(people, "counselor1").active
    assert counselor.get("/api/v1/workspace").status_code == 401  # the old session stays ended


def test_an_admin_resets_a_password_and_revokes_tokens(people, client, clock):
    counselor = sign_in(people, people.test_client(), "counselor1")
    with people.extensions["tsunagu"].sessions.begin() as db:
        token = staff_repo.issue_token(staff_repo.by_login(db, "counselor1"), clock())
    sign_in(people, client, "admin1")
    member = staff_row(people, "counselor1")
    r = client.post(f"/console/staff/{member.id}/password", data={**CSRF, "password": "short", "password_again": ""})
    assert r.status_code == 400 and "パスワードは12文字以上にしてください。" in r.get_data(as_text=True)
    r = client.post(f"/console/staff/{member.id}/password",
                    data={**CSRF, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert r.status_code == 302
    assert counselor.get("/api/v1/workspace").status_code == 401  # their sessions ended
    assert staff_repo.check_password(staff_row(people, "counselor1"), NEW_PASSWORD)
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/queue", headers=bearer).status_code == 200
    assert client.post(f"/console/staff/{member.id}/revoke-tokens", data=CSRF).status_code == 302
    assert people.test_client().get("/api/v1/queue", headers=bearer).status_code == 401
    assert [a.action for a in audits(people)][-2:] == ["staff_password", "staff_tokens_revoke"]


# --- my own password --------------------------------------------------------------------------------------


def test_a_counselor_changes_their_password_and_stays_signed_in_here_only(people, client):
    elsewhere = sign_in(people, people.test_client(), "counselor1")
    sign_in(people, client, "counselor1")
    r = client.post("/console/account", data={**CSRF, "current_password": "wrong one", "password": NEW_PASSWORD,
                                              "password_again": NEW_PASSWORD})
    assert r.status_code == 400 and error_next_to(r.get_data(as_text=True), "current_password") == \
        texts.PASSWORD_CURRENT_WRONG
    r = client.post("/console/account", data={**CSRF, "current_password": PASSWORD, "password": NEW_PASSWORD,
                                              "password_again": "typo"})
    assert r.status_code == 400 and error_next_to(r.get_data(as_text=True), "password_again") == \
        texts.PASSWORD_MISMATCH
    r = client.post("/console/account", data={**CSRF, "current_password": PASSWORD, "password": NEW_PASSWORD,
                                              "password_again": NEW_PASSWORD})
    assert r.status_code == 302
    assert texts.PASSWORD_CHANGED in client.get(r.headers["Location"]).get_data(as_text=True)
    assert client.get("/api/v1/workspace").status_code == 200  # this browser goes on
    assert elsewhere.get("/api/v1/workspace").status_code == 401  # the other one is signed out
    assert staff_repo.check_password(staff_row(people, "counselor1"), NEW_PASSWORD)


# --- saved replies --------------------------------------------------------------------------------------------


def test_a_counselor_keeps_personal_saved_replies_and_cannot_touch_the_organizations(people, client, clock):
    with people.extensions["tsunagu"].sessions.begin() as db:
        org_reply = CannedReply(organization_id=consultation_repo.default_organization(db).id, title="団体の",
                                text="こんばんは", created_at=clock())
        db.add(org_reply)
        db.flush()
        org_reply_id = org_reply.id
    sign_in(people, client, "counselor1")
    r = client.post("/console/replies", data={**CSRF, "title": "団体用", "text": "x", "scope": "organization"})
    assert r.status_code == 400 and error_next_to(r.get_data(as_text=True), "scope") == "種類を一覧から選んでください。"
    r = client.post("/console/replies", data={**CSRF, "title": "", "text": "本文", "scope": "personal"})
    assert r.status_code == 400 and error_next_to(r.get_data(as_text=True), "title") == "題名を入力してください。"
    r = client.post("/console/replies", data={**CSRF, "title": "夜の", "text": "{相談者}さん、{名前}",
                                              "scope": "personal"})
    assert r.status_code == 400 and "{名前}" in error_next_to(r.get_data(as_text=True), "text")
    r = client.post("/console/replies", data={**CSRF, "title": "夜の", "text": "{相談者}さん、おやすみなさい",
                                              "scope": "personal"})
    assert r.status_code == 302
    with people.extensions["tsunagu"].sessions() as db:
        mine = db.scalar(select(CannedReply).where(CannedReply.title == "夜の"))
        assert mine.staff_id == staff_row(people, "counselor1").id
    edited = client.post(f"/console/replies/{mine.id}", data={**CSRF, "title": "夜に", "text": "おやすみなさい"})
    assert edited.status_code == 302
    assert client.post(f"/console/replies/{org_reply_id}", data={**CSRF, "title": "x", "text": "y"}).status_code == 403
    assert client.post(f"/console/replies/{org_reply_id}/delete", data=CSRF).status_code == 403
    colleague = sign_in(people, people.test_client(), "coord1")
    assert colleague.post(f"/console/replies/{mine.id}/delete", data=CSRF).status_code == 403  # someone's own
    assert client.post(f"/console/replies/{mine.id}/delete", data=CSRF).status_code == 302


# --- labels ----------------------------------------------------------------------------------------------------


def test_coordinators_define_their_organizations_labels(people, client):
    assert sign_in(people, people.test_client(), "counselor1").get("/console/labels").status_code == 403
    sign_in(people, client, "coord1")
    assert client.post("/console/labels", data={**CSRF, "name": "継続見守り"}).status_code == 302
    r = client.post("/console/labels", data={**CSRF, "name": "継続見守り"})
    assert r.status_code == 400 and error_next_to(r.get_data(as_text=True), "name") == texts.LABEL_TAKEN
    r = client.post("/console/labels", data={**CSRF, "name": "あ" * 41})
    assert r.status_code == 400
    assert error_next_to(r.get_data(as_text=True), "name") == "名前は40文字以内にしてください。"
    with people.extensions["tsunagu"].sessions() as db:
        [label] = db.scalars(select(Label)).all()
        assert label.organization_id == consultation_repo.default_organization(db).id
    assert client.post(f"/console/labels/{label.id}", data={**CSRF, "do": "disable"}).status_code == 302
    with people.extensions["tsunagu"].sessions() as db:
        assert label_repo.for_organization(db, label.organization_id) == []
    assert client.get("/console/labels?org=other-npo").status_code == 200  # a coordinator: still their own
    assert "ほかのNPO" not in client.get("/console/labels?org=other-npo").get_data(as_text=True)


# --- the audit log ---------------------------------------------------------------------------------------------


def audits(app, action=None):
    with app.extensions["tsunagu"].sessions() as db:
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        return list(db.scalars(stmt))


def test_the_audit_log_is_in_jst_with_japanese_names_filtered_and_paged(people, client, clock):
    [cid] = waiting_consultations(people, clock, 1)
    with people.extensions["tsunagu"].sessions.begin() as db:
        counselor = staff_repo.by_login(db, "counselor1").id
        for i in range(60):
            audit.record(db, counselor, "view", clock() + timedelta(seconds=i), consultation_id=cid)
        audit.record(db, counselor, "close", clock() + timedelta(minutes=5), consultation_id=cid, detail="referral")
    sign_in(people, client, "admin1")
    page = client.get("/console/audit").get_data(as_text=True)
    assert "2026年11月23日（月） 17:05:00" in page  # 08:05 UTC, shown in JST
    assert "相談を終了" in page and ">close<" not in page
    assert 'id="next-page"' in page
    assert 'id="next-page"' not in client.get("/console/audit?page=2").get_data(as_text=True)
    only_close = client.get("/console/audit?action=close").get_data(as_text=True)
    assert only_close.count('data-action="close"') == 1 and 'data-action="view"' not in only_close
    first_page = client.get(f"/console/audit?consultation={cid}&staff={counselor}").get_data(as_text=True)
    assert first_page.count('data-action="view"') == 49 and first_page.count('data-action="close"') == 1  # 50 of 61
    bad = client.get("/console/audit?consultation=abc").get_data(as_text=True)
    assert "数字で入力してください。" in bad
    assert sign_in(people, people.test_client(), "coord1").get("/console/audit").status_code == 403


def test_every_console_page_has_the_menu_the_alert_banner_and_no_inline_script(people, client):
    sign_in(people, client, "admin1")
    for path in ["/console/", "/console/replies", "/console/labels", "/console/staff", "/console/audit",
                 "/console/account", "/console/stats/"]:
        page = client.get(path).get_data(as_text=True)
        assert 'id="crisis-alert"' in page and 'class="nav"' in page, path
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == [], path
        assert not re.search(r"\son[a-z]+=", page), path


def test_labels_are_counted_on_the_stats_page(people, client, clock):
    ids = waiting_consultations(people, clock, 3)
    with people.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.default_organization(db).id
        family = label_repo.create(db, org, "家族支援", clock()).id
        watch = label_repo.create(db, org, "継続見守り", clock()).id
        for cid in ids:
            label_repo.attach(db, cid, family, None, clock())
        label_repo.attach(db, ids[0], watch, None, clock())
    sign_in(people, client, "coord1")
    page = client.get("/console/stats/").get_data(as_text=True)
    figure = page[page.index('id="labels-figure"'):]
    figure = figure[:figure.index("</div>")]
    assert re.findall(r"<th>([^<]+)</th><td class=\"num\">([^<]+)</td>", figure) == [("家族支援", "3"),
                                                                                   ("継続見守り", "1")]
