"""A counselor's evening in a real browser: log in, see a consultation arrive, claim, read, reply,
receive, note, close with a referral."""

import re

import pytest

from flows import texts
from storage import consultations as consultation_repo
from storage import staff as staff_repo

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def test_a_counselor_handles_a_consultation_end_to_end(app, live_url, browser, user, clock, screenshots):
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        staff_repo.create(db, "counselor1", PASSWORD, "counselor", org, clock(), "相談員A")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(live_url + "/console/login")
    page.fill("input[name=login]", "counselor1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console/$"))
    assert page.locator("#queue tbody tr").count() == 0

    for step in ["こんばんは", "同意して進む", "家族", "40代", "札幌市", "仕事・就労"]:
        user.says(step)
    user.says("40歳の息子が10年部屋から出てきません")
    row = page.locator("#queue tbody tr").first
    row.wait_for(timeout=10_000)  # appears without a reload
    assert "家族・40代・札幌市・仕事・就労" in row.inner_text()
    page.screenshot(path=str(screenshots / "console-queue.png"), full_page=True)

    row.locator("a.open").click()
    page.wait_for_selector("#claim")
    page.click("#claim")
    page.wait_for_selector("#claimbox", state="hidden")  # (no wait_for_function: the CSP forbids eval)
    assert user.last_text == texts.COUNSELOR_JOINED
    assert "40歳の息子が10年部屋から出てきません" in page.inner_text("#messages")
    assert page.inner_text("dd[data-field=who]") == "家族"

    page.fill("#text", "はじめまして。お話を聞かせてください。")
    page.click("#send")
    page.wait_for_selector(".msg.counselor .status.sent", timeout=10_000)
    assert user.last_text == "はじめまして。お話を聞かせてください。"

    user.says("ありがとうございます。最近は昼夜逆転しています")
    page.wait_for_selector("text=最近は昼夜逆転しています", timeout=10_000)  # arrives without a reload

    page.fill("#note", "家族会の案内を検討")
    page.click("#addnote")
    page.wait_for_selector(".note")
    assert "家族会の案内を検討" in page.inner_text("#notes")
    assert all("家族会の案内を検討" not in t for t in user.texts)  # notes never reach the user
    page.screenshot(path=str(screenshots / "console-chat.png"), full_page=True)

    page.click("#actions summary")  # transfer and close are folded away until needed
    page.select_option("#disposition", "referral")
    page.select_option("#referral", "family_association")
    page.click("#close")
    page.wait_for_selector("text=相談を終了しました（紹介・リファー）")
    assert texts.CLOSING in user.texts
    assert user.quick_replies == ["よかった", "ふつう", "よくなかった"]
    html = page.content()
    assert user.user_id not in html
    page.close()
