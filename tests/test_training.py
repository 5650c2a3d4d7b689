"""Training scenarios play scripted users through the real webhook; their consultations are marked."""

import time
from dataclasses import replace

import pytest
from sqlalchemy import select

from bot.app import create_app
from linesim import EmulatorServer
from linesim.page import mark_training_user
from linesim.training import SCENARIOS, Runner, scenario
from storage.models import Consultation
from tests.test_cli import free_port


@pytest.fixture
def demo_like(settings, clock):
    """The service with the emulator mounted in-process, served over HTTP like the demo."""
    port = free_port()
    app = create_app(replace(settings, line_emulator=True,
                             line_api_base_url=f"http://127.0.0.1:{port}/line-emulator"), clock=clock)
    server = EmulatorServer(app=app, port=port).start()
    platform = app.extensions["line_emulator"]
    platform.webhook_url = server.url + "/callback"
    yield app, platform
    server.stop()
    app.extensions["tsunagu"].outbox.wait_idle()
    app.extensions["tsunagu"].engine.dispose()


@pytest.mark.parametrize("slug", [s.slug for s in SCENARIOS])
def test_a_scenario_goes_through_intake_and_is_marked_as_training(demo_like, slug):
    app, platform = demo_like
    svc = app.extensions["tsunagu"]
    pauses = []
    runner = Runner(platform, sleep=pauses.append, before_first_event=lambda uid: mark_training_user(svc, uid))
    user_id = runner.run(scenario(slug))
    assert sum(pauses) > 60  # realistic delays, skipped here
    with svc.sessions() as s:
        c = s.scalar(select(Consultation))
    assert c.is_training and c.state == "waiting"
    # Sending happens after each webhook answer, so the last replies may still be on their way.
    deadline = time.monotonic() + 10
    while len(platform.inbox(user_id)) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(platform.inbox(user_id)) >= 8  # greeting, five questions, queued: the user really got answers
    if slug == "discloses-intent":
        assert c.risk_level in ("high", "imminent")
