"""Trying Tsunagu with no LINE account: a user on the simulator page, a counselor in the console."""

import re
from dataclasses import replace

import pytest

from bot.app import create_app
from linesim import EmulatorServer
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from tests.browser.conftest import InFlight
from tests.spine import wait_until
from tests.test_cli import free_port

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture
def demo_url(settings, clock):
    port = free_port()
    app = create_app(replace(settings, line_emulator=True, outbox_mode="thread",
                             line_api_base_url=f"http://127.0.0.1:{port}/line-emulator",
                             line_emulator_webhook_url=f"http://127.0.0.1:{port}/callback"), clock=clock)
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        staff_repo.create(db, "counselor1", PASSWORD, "counselor", org, clock(), "相談員A")
    served = InFlight(app)
    server = EmulatorServer(app=served, port=port).start()
    yield server.url
    server.stop()
    assert wait_until(lambda: served.count == 0, 15), f"{served.count} requests still running after 15 s"
    app.extensions["tsunagu"].sender.stop()
    app.extensions["tsunagu"].outbox.wait_idle()
    app.extensions["tsunagu"].engine.dispose()


def test_a_user_on_the_simulator_is_answered_by_a_counselor_in_the_console(demo_url, browser, screenshots):
    phone = browser.new_page(viewport={"width": 900, "height": 800})
    phone.goto(demo_url + "/simulator/")
    phone.click("#add-friend")
    phone.wait_for_selector(".bubble.bot >> text=友だち追加ありがとうございます")
    phone.fill("#input", "こんばんは")
    phone.click("#send")
    for label in ["同意して進む", "本人", "20代", "札幌市", "仕事・就労"]:
        phone.locator("#chips .chip", has_text=label).click(timeout=10_000)
    phone.wait_for_selector(".bubble.bot >> text=いま一番話したいこと")
    phone.fill("#input", "働きたいけど電話がこわいです")
    phone.click("#send")
    phone.wait_for_selector(".bubble.bot >> text=相談員につなぎます", timeout=10_000)
    phone.screenshot(path=str(screenshots / "simulator-intake.png"))

    console = browser.new_page(viewport={"width": 1200, "height": 900})
    console.goto(demo_url + "/console/login")
    console.fill("input[name=login]", "counselor1")
    console.fill("input[name=password]", PASSWORD)
    console.click("button[type=submit]")
    console.wait_for_url(re.compile(r"/console/$"))
    console.locator("#queue tbody tr a.open").first.click(timeout=10_000)
    console.click("#claim")
    console.fill("#text", "こんばんは、相談員です。電話じゃなくて大丈夫ですよ。")
    console.click("#send")

    phone.wait_for_selector(".bubble.bot >> text=電話じゃなくて大丈夫ですよ", timeout=15_000)
    phone.screenshot(path=str(screenshots / "simulator-answered.png"))
    assert "相談員が入りました" in phone.inner_text("#chat")
