"""A coordinator's statistics in a real browser (Debian's Chromium): log in, open the dashboard for a
fiscal year, see the charts drawn, filter by member organization, and keep a screenshot."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.stats_data import PASSWORD, build, spread

pytestmark = pytest.mark.browser
NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


def test_the_consortium_coordinator_reads_the_dashboard(app, live_url, browser, clock, screenshots):
    clock.set(NOW)
    with app.extensions["tsunagu"].sessions.begin() as db:
        spread(db, build(db, NOW))  # the hand-built set plus 600 more over the year, for real-looking charts
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.goto(live_url + "/console/login")
    page.fill("input[name=login]", "consortium")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console/$"))

    page.goto(live_url + "/console/stats/?period=fy&fy=2025")
    assert "2025年度" in page.inner_text("#scope")
    assert page.locator("#chart-per-day svg rect.bar").count() == 365
    assert page.locator("#chart-per-day svg rect.bar[height='0.0']").count() < 365 // 2
    assert page.locator("#chart-heatmap svg rect.cell").count() == 7 * 24
    assert page.locator("#chart-waits svg polyline").count() == 2
    assert page.locator("#chart-referrals svg rect.bar").count() == 7
    assert page.locator("#chart-milestones svg rect.bar").count() == 5
    box = page.locator("#chart-heatmap svg").bounding_box()
    assert box is not None and box["width"] > 500 and box["height"] > 150  # really laid out, not empty
    assert "<5" in page.inner_text("#stats")  # crosses member organizations
    # Nothing a strict Content-Security-Policy would block: no inline script, style or handlers.
    assert page.evaluate("""() => [...document.scripts].filter(s => !s.src).length
        + document.querySelectorAll('[style], style').length
        + [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length
    """) == 0
    page.screenshot(path=str(screenshots / "stats-dashboard.png"), full_page=True)

    page.select_option("#f-org", "org-b")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"org=org-b"))
    assert "org-b" in page.inner_text("#scope")
    assert "<5" not in page.inner_text("#stats")  # one organization: exact counts
    page.screenshot(path=str(screenshots / "stats-dashboard-member.png"), full_page=True)
    assert errors == []
    page.close()
