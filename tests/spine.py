"""Helpers for the spine tests: the service served over real HTTP (threaded), webhooks posted from
real threads at the same instant, and bounded waits on a condition."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from bot.app import create_app
from linesim import EmulatorServer, LinePlatform


@contextmanager
def served(settings: Any, clock: Any, **changes: Any) -> Iterator[tuple[Any, str]]:
    """The service on its own threaded HTTP server; yields (app, webhook URL)."""
    app = create_app(replace(settings, **changes), clock=clock)
    server = EmulatorServer(app=app).start()
    try:
        yield app, server.url + "/callback"
    finally:
        server.stop()
        # A request thread may still be sending after its response closed: let it finish first.
        wait_until(lambda: not [t for t in threading.enumerate() if "process_request" in t.name], 15)
        svc = app.extensions["tsunagu"]
        if svc.events is not None:
            svc.events.stop()
        svc.sender.stop()
        svc.outbox.wait_idle()
        svc.gateway.close()
        svc.engine.dispose()


def at_once(platform: LinePlatform, url: str, bodies: list[list[dict[str, Any]]]) -> list[int]:
    """POST each body from its own thread, all released by one barrier; returns the HTTP statuses."""
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = [0] * len(bodies)

    def post(i: int, events: list[dict[str, Any]]) -> None:
        barrier.wait(timeout=10)
        statuses[i] = platform.deliver(events, url)

    threads = [threading.Thread(target=post, args=(i, b)) for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return statuses


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll `condition` until it holds or `seconds` pass (a bound, not a sleep for a schedule)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
