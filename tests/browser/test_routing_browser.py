"""Issue 10 in a real browser: a counselor of the family association sees why a consultation came to
their member (the routing reason on the chat page), and closes it with a referral card in one click."""

import re

import pytest

from storage import organizations as org_repo
from storage import staff as staff_repo
from tests.consortium import FAMILY_40S_FAMILY, PASSWORD, answer_intake

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.consortium_fixtures"]


def test_the_chat_page_shows_the_routing_and_sends_a_referral_card(app, live_url, browser, user, clock, consortium,
                                                                   screenshots):
    with app.extensions["tsunagu"].sessions.begin() as db:
        staff_repo.create(db, "kazoku1", PASSWORD, "counselor", org_repo.by_slug(db, "kazokukai"), clock(), "相談員K")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(live_url + "/console/login")
    page.fill("input[name=login]", "kazoku1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console/$"))

    answer_intake(user, FAMILY_40S_FAMILY)
    row = page.locator("#queue tbody tr").first
    row.wait_for(timeout=10_000)
    row.locator("a.open").click()
    page.wait_for_selector("#routing li")
    assert "ルール「ご家族からの相談」によりひきこもり家族会 ほっとの会へ" in page.inner_text("#routing")
    page.click("#claim")
    page.wait_for_selector("#claimbox", state="hidden")
    page.screenshot(path=str(screenshots / "console-routing.png"), full_page=True)

    page.click("#actions summary")  # the workspace folds transfer and close away until needed
    page.select_option("#disposition", "referral")
    page.select_option("#referral-org", "kazokukai")
    page.click("#close")
    page.wait_for_selector("text=相談を終了しました（紹介・リファー）")
    [card] = [m for m in user.received if m["type"] == "flex"]
    assert card["alt_text"] == "相談先のご案内：ひきこもり家族会 ほっとの会"
    page.close()
