"""A counselor busy in one chat is alerted, on that very page, when someone else writes a crisis message;
the alert comes back after 2 minutes unclaimed, and the chat shows the cue of a moderate message."""

import re

import pytest

from flows import texts
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from tests.spine import wait_until

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def finish_intake(user, topic):
    for step in ["こんばんは", "同意して進む", "家族", "40代", "札幌市", "仕事・就労"]:
        user.says(step)
    user.says(topic)


def test_a_counselor_on_a_chat_page_sees_the_crisis_alert(app, live_url, browser, make_user, clock, screenshots):
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        staff_repo.create(db, "counselor1", PASSWORD, "counselor", org, clock(), "相談員A")
    calm = make_user()
    finish_intake(calm, "息子が部屋から出てきません")
    calm.says("息子が最近、生きてる意味がないと言います")  # moderate: flagged with its cue in the chat

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(live_url + "/console/login")
    page.fill("input[name=login]", "counselor1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console/$"))
    page.locator("#queue tbody tr a.open").first.click()
    page.wait_for_url(re.compile(r"/console/c/\d+$"))
    page.click("#claim")
    page.wait_for_selector("#claimbox", state="hidden")  # no wait_for_function: the CSP forbids eval
    flagged = page.locator(".msg.flagged")
    flagged.first.wait_for(timeout=10_000)
    assert "息子が最近、生きてる意味がないと言います" in flagged.first.inner_text()
    assert "注意：" in flagged.first.locator(".cue").inner_text()
    assert page.locator("#crisis-alert").is_hidden()
    calm_url = page.url

    in_crisis = make_user()
    in_crisis.says("薬を全部飲んだ")
    banner = page.locator("#crisis-alert")
    banner.wait_for(state="visible", timeout=10_000)  # on the chat page, without a reload
    assert page.url == calm_url
    assert "緊急" in banner.inner_text()
    assert page.title().startswith("【緊急】")
    assert page.locator("html").get_attribute("data-alert-sounds") == "1"  # the alarm sounded once
    link = banner.locator("#crisis-alert-list a")
    assert link.count() == 1 and re.search(r"/console/c/\d+$", link.get_attribute("href"))
    assert in_crisis.user_id not in page.content()
    flagged.first.scroll_into_view_if_needed()  # the screenshot shows the flagged message too
    page.screenshot(path=str(screenshots / "console-crisis-alert-on-chat.png"), full_page=True)

    page.click("#crisis-alert-ack")
    assert banner.is_hidden()
    clock.advance(minutes=2)  # nobody claimed it: the alert comes back
    banner.wait_for(state="visible", timeout=10_000)
    assert "2回目の通知" in banner.inner_text()
    assert page.locator("html").get_attribute("data-alert-sounds") == "2"  # and sounded again

    link.click()
    page.wait_for_selector("#claim")
    page.click("#claim")
    page.wait_for_selector("#crisis-alert", state="hidden", timeout=10_000)
    # The joined message goes out through the outbox right after the claim's response: wait for it.
    assert wait_until(lambda: in_crisis.last_text == texts.COUNSELOR_JOINED), in_crisis.last_text
    page.close()
