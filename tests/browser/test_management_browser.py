"""The console's management screens in Debian's Chromium (issue 12): saved replies, labels (then used to
filter the workspace), the audit log and one's own password, each refusal shown next to its field."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_workspace_browser import add_staff, claim_from_queue, finish_intake, sign_in

pytestmark = pytest.mark.browser


def test_a_coordinator_keeps_saved_replies_and_labels_and_filters_by_label(app, live_url, browser, make_user,
                                                                           clock, screenshots):
    add_staff(app, clock, "coord1", "coordinator", "コーディネーターB")
    users = [make_user(), make_user()]
    for user, topic in zip(users, ["息子が部屋から出てきません", "娘が昼夜逆転しています"], strict=True):
        finish_intake(user, topic)
    page = sign_in(browser, live_url, "coord1")

    page.click("#nav-replies")
    page.wait_for_url(re.compile(r"/console/replies$"))
    page.fill("#reply-title", "夜のあいさつ")
    page.fill("#reply-text", "{相談者}さん、こんばんは。{名前}です。")
    page.click("#reply-add")
    error = page.locator("#replyform .field-error[data-for=text]")
    assert "使えない差し込みがあります：{名前}" in error.inner_text()  # next to the text it is about
    page.fill("#reply-text", "{相談者}さん、こんばんは。{担当者}です。")
    page.select_option("#reply-scope", "organization")
    page.click("#reply-add")
    page.wait_for_selector("#flash")
    assert page.locator("#replies input[name=title]").first.input_value() == "夜のあいさつ"  # editable: ours
    page.screenshot(path=str(screenshots / "manage-saved-replies.png"), full_page=True)

    page.click("#nav-labels")
    page.fill("#label-name", "家族支援")
    page.click("#label-add")
    page.wait_for_selector("#flash")
    page.fill("#label-name", "家族支援")
    page.click("#label-add")
    assert page.inner_text("#labelform .field-error[data-for=name]") == "同じ名前のラベルがすでにあります。"
    page.screenshot(path=str(screenshots / "manage-labels.png"), full_page=True)

    page.click("#nav-workspace")
    page.wait_for_selector("#queue tbody tr >> nth=1")
    first = int(page.locator("#queue tbody tr").first.get_attribute("data-id"))
    claim_from_queue(page, first)
    page.locator("#labels label.label-chip", has_text="家族支援").locator("input").check()
    page.wait_for_selector(f"#mine li[data-id='{first}'] .label-chip", timeout=10_000)
    page.select_option("#label-filter", label="家族支援")
    assert page.locator("#queue tbody tr").count() == 0 and page.locator("#mine li.chat-item").count() == 1
    page.screenshot(path=str(screenshots / "workspace-label-filter.png"))
    page.select_option("#label-filter", "")
    assert page.locator("#queue tbody tr").count() == 1
    page.close()


def test_an_admin_reads_the_audit_log_and_a_counselor_changes_their_password(app, live_url, browser, user, clock,
                                                                             screenshots):
    add_staff(app, clock, "counselor1", "counselor", "相談員A")
    add_staff(app, clock, "admin1", "admin", "管理者")
    finish_intake(user, "息子が部屋から出てきません")
    counselor = sign_in(browser, live_url, "counselor1")
    cid = int(counselor.locator("#queue tbody tr").first.get_attribute("data-id"))
    claim_from_queue(counselor, cid)

    counselor.click("#nav-account")
    counselor.fill("input[name=current_password]", "not my password")
    counselor.fill("input[name=password]", "a quiet evening walk by the river")
    counselor.fill("input[name=password_again]", "a quiet evening walk by the river")
    counselor.click("#passwordform button[type=submit]")
    assert counselor.inner_text(".field-error[data-for=current_password]") == "いまのパスワードが違います。"
    counselor.screenshot(path=str(screenshots / "account-password-error.png"))

    admin = sign_in(browser, live_url, "admin1")
    admin.click("#nav-audit")
    admin.wait_for_url(re.compile(r"/console/audit$"))
    rows = admin.locator("#audit tbody tr")
    texts = rows.all_inner_texts()
    assert any("相談員A（counselor1）" in t and "担当した" in t for t in texts)
    assert any("2026年11月23日（月） 17:00:00" in t for t in texts)  # 08:00 UTC, in JST
    admin.fill("#f-consultation", str(cid))
    admin.select_option("#f-action", "view")
    admin.click("#audit-filters button[type=submit]")
    admin.wait_for_url(re.compile(r"action=view"))
    assert [t.split("\t")[2] for t in admin.locator("#audit tbody tr").all_inner_texts()] == ["相談を開いた"]
    admin.screenshot(path=str(screenshots / "audit-log.png"), full_page=True)
    counselor.close()
    admin.close()
