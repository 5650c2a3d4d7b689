"""The in-process event workers: the webhook stores a batch, answers 200, and hands the stored ids
here. Each worker has its own queue and a user's events always go to the same worker (by a hash of
the LINE user ID), so one user's events are handled in order; a bounded number of workers share the
rest. A worker handles the event (one transaction), then at once sends the replies that event wrote
to the outbox, while the reply token is fresh; the outbox rows stay the durable record, so anything
not sent here is sent by the sender's sweep, and an event stored but never handled (a crash) is
picked up by `handlers.process.sweep_stale`.
"""

from __future__ import annotations

import logging
import queue
import threading
import zlib
from collections.abc import Callable
from typing import Any

from handlers.context import Processed
from handlers.process import describe_error, process_event

log = logging.getLogger(__name__)
_STOP = None


def after_commit(svc, processed: Processed) -> None:  # noqa: ANN001
    """Send what the event wrote to the outbox (unless another process does all sending), then leave
    any group or room. Never raises: the rows are durable and the sweeps retry."""
    try:
        if processed.outbox_ids and svc.settings.outbox_mode != "off":
            svc.outbox.send_ids(processed.outbox_ids)
        for source_type, chat_id in processed.leave:
            result = svc.gateway.leave(source_type, chat_id)
            log.info("left a %s (%s)", source_type, result.outcome)
    except Exception as exc:
        log.error("after-commit work failed: %s", describe_error(exc))


def handle(svc, inbox_id: int, event: dict) -> Processed:  # noqa: ANN001
    """One event, start to finish: process it in its own transaction, then send its replies."""
    processed = process_event(svc.sessions, svc.policy, svc.clock, inbox_id, event)
    after_commit(svc, processed)
    return processed


class EventWorkers:
    """`size` threads, one queue each. `submit` never blocks and never polls: a worker wakes the
    moment an id lands in its queue."""

    def __init__(self, work: Callable[..., object], size: int) -> None:
        if size < 1:
            raise ValueError("at least one event worker")
        self.work = work
        self.size = size
        self._queues: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(size)]
        self._threads: list[threading.Thread] = []
        self._pending = 0
        self._idle = threading.Condition()

    def start(self) -> None:
        if self._threads:
            return
        for n, q in enumerate(self._queues):
            t = threading.Thread(target=self._run, args=(q,), name=f"event-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def shard(self, line_user_id: str | None) -> int:
        """The same user always lands on the same worker (order kept); events without a user on 0."""
        return zlib.crc32(line_user_id.encode()) % self.size if line_user_id else 0

    def submit(self, line_user_id: str | None, *args: Any) -> None:
        """Queue `work(*args)` on the user's worker."""
        with self._idle:
            self._pending += 1
        self._queues[self.shard(line_user_id)].put(args)

    def wait_idle(self, timeout: float) -> bool:
        """True once every submitted event has been handled (used by tests and at shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float = 15.0) -> None:
        for q in self._queues:
            q.put(_STOP)
        for t in self._threads:
            t.join(timeout=timeout)
        self._threads = []

    def _run(self, q: queue.SimpleQueue) -> None:
        while True:
            item = q.get()
            if item is _STOP:
                return
            try:
                self.work(*item)
            except Exception as exc:  # never lose the worker; the event stays "received" for the sweep
                log.error("event worker: job failed: %s", describe_error(exc))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
