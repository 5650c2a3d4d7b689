"""The workspace in Debian's Chromium (issue 12): a counselor with three chats on one page, a coordinator
watching a live chat, an admin disabling a counselor. Each screen is saved under screenshots/."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from flows import texts
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from storage.models import CannedReply, Consultation

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
INTAKE = ["こんばんは", "同意して進む", "家族", "40代", "札幌市", "仕事・就労"]


def finish_intake(user, topic):
    for step in INTAKE:
        user.says(step)
    user.says(topic)


def add_staff(app, clock, login, role, name):
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        staff_repo.create(db, login, PASSWORD, role, org, clock(), name)
        return org.id


def sign_in(browser, live_url, login):
    page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="ja-JP")
    page.goto(live_url + "/console/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console/$"))
    return page


def consultation_ids(app):
    with app.extensions["tsunagu"].sessions() as db:
        return list(db.scalars(select(Consultation.id).order_by(Consultation.id)))


def open_chat(page, selector, cid):
    """Click a chat in a list; return once the middle pane shows it."""
    page.click(selector)
    page.wait_for_url(re.compile(rf"/console/c/{cid}$"))
    page.wait_for_selector(f"#chat[data-loaded='{cid}']")


def claim_from_queue(page, cid):
    open_chat(page, f"#queue tr[data-id='{cid}'] a.open", cid)
    page.click("#claim")
    page.wait_for_selector("#claimbox", state="hidden")
    page.wait_for_selector(f"#mine li[data-id='{cid}']")


def test_a_counselor_holds_three_chats_on_one_page(app, live_url, browser, make_user, clock, screenshots):
    org_id = add_staff(app, clock, "counselor1", "counselor", "相談員A")
    with app.extensions["tsunagu"].sessions.begin() as db:
        db.add(CannedReply(organization_id=org_id, title="はじめのあいさつ", created_at=clock(),
                           text="{相談者}さん、はじめまして。相談員の{担当者}です。\nゆっくりで大丈夫です。"))
    users = [make_user() for _ in range(3)]
    topics = ["息子が部屋から出てきません", "娘が昼夜逆転しています", "夫と話せません"]
    for user, topic in zip(users, topics, strict=True):
        finish_intake(user, topic)
    first, second, third = consultation_ids(app)

    page = sign_in(browser, live_url, "counselor1")
    page.wait_for_selector("#queue tbody tr >> nth=2")
    assert page.inner_text("#count") == "3件"
    for cid in (first, second, third):
        claim_from_queue(page, cid)
    assert page.locator("#mine li.chat-item").count() == 3
    assert page.locator("#queue tbody tr").count() == 0

    # A draft in the second chat, then on to the third with the keyboard.
    open_chat(page, f"#mine li[data-id='{second}'] a.open", second)
    page.fill("#text", "下書き：明日の予定を聞く")
    page.keyboard.press("Alt+ArrowDown")
    page.wait_for_url(re.compile(rf"/console/c/{third}$"))
    page.wait_for_selector(f"#chat[data-loaded='{third}']")
    assert "夫と話せません" in page.inner_text("#messages")
    assert page.input_value("#text") == ""

    # A message in the first chat, which is not shown: its unread badge, the title and a sound.
    users[0].says("まだ起きています。\n眠れなくて")
    badge = page.locator(f"#mine li[data-id='{first}'] .unread")
    badge.wait_for(state="visible", timeout=10_000)
    assert badge.inner_text() == "1"
    assert "まだ起きています。" in page.inner_text(f"#mine li[data-id='{first}'] .preview")
    assert page.title().startswith("(1) ")
    assert page.locator("html").get_attribute("data-message-sounds") == "1"
    page.screenshot(path=str(screenshots / "workspace-unread.png"))

    # Switch to it: the newest message is in view, its line break kept, and the badge goes.
    open_chat(page, f"#mine li[data-id='{first}'] a.open", first)
    newest = page.locator(".msg.user").last
    newest.wait_for()
    assert newest.locator(".text").inner_text() == "まだ起きています。\n眠れなくて"
    assert re.fullmatch(r"\d\d:\d\d", newest.locator(".at").inner_text())
    assert newest.is_visible() and newest.bounding_box()["y"] < page.locator("#messages").bounding_box()["y"] + \
        page.locator("#messages").bounding_box()["height"]
    badge.wait_for(state="hidden", timeout=10_000)

    # A saved reply found with "/" and inserted where the cursor is, placeholders filled in.
    page.click("#text")
    page.keyboard.type("こんばんは。")
    page.keyboard.type("/あいさつ")
    page.wait_for_selector("#canned-popup .canned-item.selected")
    page.screenshot(path=str(screenshots / "workspace-saved-reply.png"))
    page.keyboard.press("Enter")
    pseudonym = page.inner_text("#title").split("（")[0]
    expected = f"こんばんは。{pseudonym}さん、はじめまして。相談員の相談員Aです。\nゆっくりで大丈夫です。"
    assert page.input_value("#text") == expected
    assert page.locator("#canned-popup").is_hidden()
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".msg.counselor .status.sent", timeout=10_000)
    assert users[0].last_text == expected
    assert page.input_value("#text") == ""

    # A counselor who prefers Enter to send: Shift+Enter breaks the line (the choice is kept).
    page.select_option("#send-key", "enter")
    page.click("#text")
    page.keyboard.type("少しずつで")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("大丈夫です")
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg.counselor .status.sent >> nth=1", timeout=10_000)
    assert users[0].last_text == "少しずつで\n大丈夫です"

    # The draft of the second chat is still there.
    open_chat(page, f"#mine li[data-id='{second}'] a.open", second)
    assert "娘が昼夜逆転しています" in page.inner_text("#messages")
    assert page.input_value("#text") == "下書き：明日の予定を聞く"

    # Closing the third: read-only, with its disposition and referral, and no reply, transfer or close.
    open_chat(page, f"#mine li[data-id='{third}'] a.open", third)
    page.click("#actions summary")
    page.select_option("#disposition", "referral")
    page.click("#close")
    error = page.locator("#closeform .field-error[data-for=referral]")
    error.wait_for(state="visible")  # the refusal, in Japanese, next to the referral it is about
    assert error.inner_text() == "紹介・リファーのときは紹介先を選んでください。"
    page.select_option("#referral", "family_association")
    page.click("#close")
    page.wait_for_selector("#closed-panel", state="visible", timeout=10_000)
    assert page.inner_text("#closed-disposition") == "紹介・リファー"
    assert page.inner_text("#closed-referral") == "家族会"
    for control in ("#reply", "#text", "#send", "#transferform", "#close", "#noteform", "#claim"):
        assert page.locator(control).is_hidden(), control
    assert "（終了）" in page.inner_text("#title")
    page.wait_for_selector(f"#mine li[data-id='{third}']", state="detached")
    assert texts.CLOSING in users[2].texts
    page.screenshot(path=str(screenshots / "workspace-closed.png"))
    html = page.content()
    assert all(u.user_id not in html for u in users)
    page.close()
