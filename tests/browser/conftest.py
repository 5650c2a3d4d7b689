"""A live server for the app under test and Playwright driving Debian's Chromium (never a downloaded one)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from linesim import EmulatorServer
from tests.conftest import require_or_skip
from tests.spine import wait_until

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


class InFlight:
    """Counts the requests the app is still handling. The server's shutdown does not wait for them, and
    one that finishes after the app fixture disposed the engine hands its connection back to a pool
    nobody closes: psycopg then warns, as a failure, in whichever later test the garbage collector runs.
    (Flask closes the request's session before it returns the body, so the call is what holds it.)"""

    def __init__(self, app: Any) -> None:
        self.app, self.count, self._lock = app, 0, threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            self.count += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self._lock:
                self.count -= 1


@pytest.fixture
def live_url(app: Any) -> Iterator[str]:
    served = InFlight(app)
    server = EmulatorServer(app=served).start()  # serves any WSGI app on a free loopback port, threaded
    yield server.url
    server.stop()
    assert wait_until(lambda: served.count == 0, 15), f"{served.count} requests still running after 15 s"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require_or_skip(Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
                    "Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
