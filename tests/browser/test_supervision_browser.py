"""Supervision and staff management in Debian's Chromium (issue 12): a coordinator watches a live chat,
adds a note only staff see and takes it over; an admin disables a counselor, whose open workspace stops
working at once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from flows import texts
from storage import staff as staff_repo
from storage.models import AuditEvent, Consultation
from tests.browser.test_workspace_browser import add_staff, finish_intake, open_chat, sign_in

pytestmark = pytest.mark.browser


def token_for(app, clock, login):
    with app.extensions["tsunagu"].sessions.begin() as db:
        return {"Authorization": f"Bearer {staff_repo.issue_token(staff_repo.by_login(db, login), clock())}"}


def only_consultation(app):
    with app.extensions["tsunagu"].sessions() as db:
        return db.scalar(select(Consultation.id))


def actions(app, cid):
    with app.extensions["tsunagu"].sessions() as db:
        return [a.action for a in db.scalars(select(AuditEvent).where(AuditEvent.consultation_id == cid)
                                             .order_by(AuditEvent.id))]


def test_a_coordinator_watches_a_live_chat_adds_a_note_and_takes_it_over(app, client, live_url, browser, user,
                                                                         clock, screenshots):
    add_staff(app, clock, "counselor1", "counselor", "相談員A")
    add_staff(app, clock, "coord1", "coordinator", "コーディネーターB")
    counselor = token_for(app, clock, "counselor1")
    finish_intake(user, "息子が部屋から出てきません")
    cid = only_consultation(app)
    assert client.post(f"/api/v1/consultations/{cid}/claim", headers=counselor).status_code == 200
    client.post(f"/api/v1/consultations/{cid}/messages", headers=counselor, json={"text": "こんばんは、相談員です。"})

    page = sign_in(browser, live_url, "coord1")
    row = page.locator(f"#watch li[data-id='{cid}']")
    row.wait_for(timeout=10_000)
    assert "対応中・相談員A" in row.inner_text()
    open_chat(page, f"#watch li[data-id='{cid}'] a.open", cid)
    assert page.locator("#watch-panel").is_visible()
    assert page.locator("#reply").is_hidden() and page.locator("#claimbox").is_hidden()

    user.says("今日は少しだけ外に出られました")  # read live, without a reload
    page.wait_for_selector("#messages >> text=今日は少しだけ外に出られました", timeout=10_000)

    page.fill("#supervisor-note", "外に出られたことを一緒に喜んでください")
    page.click("#add-supervisor-note")
    note = page.locator("#notes .note.supervisor")
    note.wait_for(timeout=10_000)
    assert "外に出られたことを一緒に喜んでください" in note.inner_text()
    assert "コーディネーターB（スーパーバイザー）" in note.inner_text()
    page.screenshot(path=str(screenshots / "workspace-supervisor-watch.png"))
    assert all("一緒に喜んで" not in t for t in user.texts)  # staff only
    seen = client.get(f"/api/v1/consultations/{cid}", headers=counselor).json["notes"]
    assert [(n["kind"], n["by"]) for n in seen] == [("supervisor", "コーディネーターB")]

    page.on("dialog", lambda dialog: dialog.accept())  # "この相談を引き取りますか？"
    page.click("#take-over")
    page.wait_for_selector("#reply", state="visible", timeout=10_000)
    page.wait_for_selector(f"#mine li[data-id='{cid}']", timeout=10_000)
    page.fill("#text", "ここからは私がお話を聞きますね。")
    page.click("#send")
    page.wait_for_selector(".msg.counselor .status.sent >> nth=1", timeout=10_000)
    assert user.last_text == "ここからは私がお話を聞きますね。"
    assert client.get("/api/v1/workspace", headers=counselor).json["lists"]["mine"] == []
    assert ["watch", "supervisor_note", "take_over"] == [a for a in actions(app, cid)
                                                        if a in ("watch", "supervisor_note", "take_over")]
    page.close()


def test_an_admin_disables_a_counselor_whose_session_stops_at_once(app, live_url, browser, user, clock,
                                                                   screenshots):
    add_staff(app, clock, "counselor1", "counselor", "相談員A")
    add_staff(app, clock, "admin1", "admin", "管理者")
    finish_intake(user, "息子が部屋から出てきません")
    cid = only_consultation(app)

    counselor = sign_in(browser, live_url, "counselor1")
    open_chat(counselor, f"#queue tr[data-id='{cid}'] a.open", cid)
    counselor.click("#claim")
    counselor.wait_for_selector("#reply", state="visible")

    admin = sign_in(browser, live_url, "admin1")
    admin.click("#nav-staff")
    admin.wait_for_url(re.compile(r"/console/staff$"))
    row = admin.locator("#staff-table tr[data-login=counselor1]")
    assert "1件" in row.inner_text()  # holds one chat
    questions = []
    admin.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    row.locator("form.disable button").click()
    flash = admin.locator("#flash")
    flash.wait_for()
    assert "相談員Aさんを停止しました" in flash.inner_text() and "1件は待機に戻しました" in flash.inner_text()
    assert questions == ["相談員Aさんを停止しますか？ログインは直ちに終了し、担当中の相談は待機に戻ります。"]
    assert "停止中" in admin.locator("#staff-table tr[data-login=counselor1]").inner_text()
    admin.screenshot(path=str(screenshots / "staff-disabled.png"), full_page=True)

    # The counselor's open workspace is signed out at its next poll; nothing they send goes through.
    counselor.wait_for_url(re.compile(r"/console/login$"), timeout=10_000)
    counselor.screenshot(path=str(screenshots / "staff-disabled-counselor-signed-out.png"))
    counselor.goto(live_url + f"/console/c/{cid}")
    assert counselor.url.endswith("/console/login")
    assert user.last_text == texts.COUNSELOR_CHANGING
    with app.extensions["tsunagu"].sessions() as db:
        c = db.get(Consultation, cid)
        assert (c.state, c.counselor_id) == ("waiting", None)
    with app.extensions["tsunagu"].sessions() as db:
        [disabled] = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff_disable")).all()
        assert disabled.detail == "counselor1; 1 back to the queue" and disabled.staff.login == "admin1"
    counselor.close()
    admin.close()
