"""Shared fixtures: a clock that tests move by hand, a migrated database (SQLite file, or PostgreSQL
via TEST_DATABASE_URL), the LINE platform emulator over real HTTP, the app, and LINE users.

Under CI=true nothing is allowed to skip for a missing PostgreSQL, Chromium or shared fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.app import create_app
from bot.config import Settings
from linesim import EmulatorServer, LinePlatform
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Base

CHANNEL_SECRET = "test-channel-secret-0123456789abcdef"
ACCESS_TOKEN = "test-access-token"
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"

# 17:00 in Tokyo on a Monday: inside the default service hours (16:00-21:00).
OPEN_TIME = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class FrozenClock:
    """Time stands still until a test moves it: hours, timeouts and schedules without sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(OPEN_TIME)


# --- database ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'tsunagu-test.db'}"


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Any]:
    engine = make_engine(database_url)
    with engine.begin() as conn:  # start from nothing, then build the schema the way production does
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        conn.execute(text("DROP TABLE IF EXISTS login_attempts"))  # dropped by m2_04_security; left by older runs
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db(migrated_engine: Any) -> Iterator[Any]:
    yield migrated_engine
    with migrated_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


# --- LINE --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _emulator() -> Iterator[EmulatorServer]:
    platform = LinePlatform(CHANNEL_SECRET, ACCESS_TOKEN)
    server = EmulatorServer(platform)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def line(_emulator: EmulatorServer, clock: FrozenClock) -> Iterator[EmulatorServer]:
    """The LINE platform emulator, fresh for each test and on the test's clock."""
    _emulator.platform.reset()
    _emulator.platform.clock = clock
    yield _emulator
    _emulator.platform.reset()


# --- the app -----------------------------------------------------------------------------------------


@pytest.fixture
def settings(db: Any, database_url: str, line: EmulatorServer) -> Settings:
    return Settings(
        line_channel_secret=CHANNEL_SECRET,
        line_channel_access_token=ACCESS_TOKEN,
        line_api_base_url=line.url,
        database_url=database_url,
        secret_key="test-secret-key-0123456789abcdef-0123456789",
        areas=("札幌市", "旭川市", "函館市"),
        outbox_mode="inline",  # send right after each response: deterministic tests
        scheduler=False,
        session_cookie_secure=False,
    )


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Iterator[Any]:
    app = create_app(settings, clock=clock)
    app.config["TESTING"] = True
    yield app
    svc = app.extensions["tsunagu"]
    svc.sender.stop()
    svc.outbox.wait_idle()  # a send started after a response may still hold a connection
    svc.gateway.close()
    svc.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


class LineUser:
    """One anonymous person on LINE, driven through the emulator: events are built and signed the
    way LINE does and posted to /callback; what the bot sends lands on the emulated phone."""

    def __init__(self, platform: LinePlatform, http: Any) -> None:
        self.platform = platform
        self.http = http
        self.user_id = platform.add_user()

    def post(self, events: list[dict[str, Any]]) -> Any:
        body = self.platform.body(events)
        response = self.http.post("/callback", data=body, content_type="application/json",
                                  headers={"X-Line-Signature": self.platform.sign(body)})
        response.close()  # runs the after-response work (sending) as a real server would
        return response

    def follows(self) -> Any:
        return self.post([self.platform.follow_event(self.user_id)])

    def blocks(self) -> Any:
        return self.post([self.platform.unfollow_event(self.user_id)])

    def says(self, text: str) -> Any:
        return self.post([self.platform.text_event(self.user_id, text)])

    def taps(self, label: str) -> Any:
        # A quick reply of type "message" sends its label as the user's text.
        assert label in self.quick_replies, f"no quick reply {label!r}; have {self.quick_replies}"
        return self.says(label)

    def postback(self, data: str) -> Any:
        return self.post([self.platform.postback_event(self.user_id, data)])

    @property
    def received(self) -> list[dict[str, Any]]:
        return self.platform.inbox(self.user_id)

    @property
    def texts(self) -> list[str]:
        return [m.get("text", "") for m in self.received]

    @property
    def last_text(self) -> str:
        return self.texts[-1] if self.texts else ""

    @property
    def quick_replies(self) -> list[str]:
        for m in reversed(self.received):
            labels = m.get("quick_replies")
            if labels is not None:
                return list(labels)
        return []


@pytest.fixture
def make_user(line: EmulatorServer, client: Any) -> Any:
    def _make() -> LineUser:
        return LineUser(line.platform, client)

    return _make


@pytest.fixture
def user(make_user: Any) -> LineUser:
    return make_user()


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip on a newcomer's machine; under CI=true a missing prerequisite is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)
