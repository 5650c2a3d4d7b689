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
import time
import zlib
from collections.abc import Callable
from typing import Any

from handlers.context import Processed
from handlers.process import describe_error, process_batch, process_event

log = logging.getLogger(__name__)
_STOP = None
EVENT_BATCH = 32  # events one worker handles in one transaction, at most (only when they have piled up)
# On SQLite a batch holds the one writer lock that the webhook's store must wait for, so batches are
# smaller there: the cap is a trade between that wait (the ack tail) and the per-batch costs a larger batch
# spreads (a commit, a round of sends, a settle). bench/webhook_load.py's load on this 2-core machine,
# 3,000 events then 300/s for 10 s (runs: 4, 4, 2, 4): cap 8: 315-343 events/s, ack p99 at 300/s 30-37 ms,
# end-to-end p99 2.0-3.2 s (barely above 300/s, the replies queued); 16: 343-381/s, ack p99 54-86 ms,
# end-to-end p99 0.8-2.0 s; 24: 339-356/s, 93-106 ms, 0.4-2.0 s; 32: 348-404/s, 64-145 ms, 0.3-1.1 s.
EVENT_BATCH_SQLITE = 16


# Workers when EVENT_WORKERS is 0. Fewer threads, less time lost to the GIL changing hands. bench/
# webhook_load.py's load on this 2-core machine, paired runs (2,000 events, then 300/s for 10 s): one event
# worker sending 2-4 calls at a time, SQLite 305-385 events/s, ack p99 at 300/s 27-42 ms, end-to-end p99
# 0.4-3.3 s (5 runs); 4 workers sending 8 at a time (the old default) 240-275/s, 121-152 ms, 3.6-4.9 s (2);
# 4 workers sending 4 at a time 344/s, 37 ms, 4.7 s (1). Voluntary context switches per event 21-24
# against 43. PostgreSQL (two web processes): about the same throughput, ack p99 261-334 against
# 2,007-3,437 ms. A user's events stay on one worker either way; SQLite writes one transaction at a time
# whatever the count, and a crisis text still has its own lane.
EVENT_WORKERS_SQLITE = 1
EVENT_WORKERS_POSTGRES = 1


def worker_count(settings) -> int:  # noqa: ANN001
    if settings.event_workers:
        return settings.event_workers
    return EVENT_WORKERS_SQLITE if settings.database_url.startswith("sqlite") else EVENT_WORKERS_POSTGRES


def batch_size(engine) -> int:  # noqa: ANN001
    return EVENT_BATCH_SQLITE if engine.dialect.name == "sqlite" else EVENT_BATCH


def after_commit(svc, processed: Processed) -> None:  # noqa: ANN001
    """Send what the events wrote to the outbox (unless another process does all sending): the rows
    leased in their transaction at once, concurrently; then leave any group or room. Never raises:
    the rows are durable and the sweeps retry."""
    try:
        if processed.outbox_ids and svc.settings.outbox_mode != "off":
            svc.outbox.finish(processed.jobs, processed.outbox_ids)
        for source_type, chat_id in processed.leave:
            result = svc.gateway.leave(source_type, chat_id)
            log.info("left a %s (%s)", source_type, result.outcome)
    except Exception as exc:
        log.error("after-commit work failed: %s", describe_error(exc))


def claim_of(svc):  # noqa: ANN001, ANN201
    """The in-transaction claim of fresh replies, for the event workers. Not when a separate process
    does all the sending ("off"), nor under "inline" (tests): there the sends run in the response's
    close hook, which a test server may skip (werkzeug's, when the client resets the connection), and
    a row leased but never sent would wait out its lease on a test's frozen clock; unleased rows are
    picked up by the next send instead."""
    return svc.outbox.claim_within if svc.settings.outbox_mode == "thread" else None


def handle(svc, inbox_id: int, event: dict) -> Processed:  # noqa: ANN001
    """One event, start to finish: process it in its own transaction, then send its replies."""
    processed = process_event(svc.sessions, svc.policy, svc.clock, inbox_id, event, claim=claim_of(svc))
    after_commit(svc, processed)
    return processed


def handle_urgent(svc, inbox_id: int, event: dict) -> Processed:  # noqa: ANN001
    """A crisis text, on the crisis lane: first in SQLite's write turns, its contacts sent at once."""
    processed = process_event(svc.sessions, svc.policy, svc.clock, inbox_id, event, claim=claim_of(svc),
                              urgent=True)
    after_commit(svc, processed)
    return processed


def handle_batch(svc, items: list[tuple[int, dict]]) -> Processed:  # noqa: ANN001
    """Events waiting in one worker's queue, handled in one transaction, their replies sent together."""
    processed = process_batch(svc.sessions, svc.policy, svc.clock, items, claim=claim_of(svc))
    after_commit(svc, processed)
    return processed


class EventWorkers:
    """`size` threads, one queue each. `submit` never blocks and never polls: a worker wakes the
    moment an id lands in its queue.

    With `batch` > 1 a worker takes what has piled up in its queue (at most `batch` items, in order)
    and calls `work` once with the list of their argument tuples: under a burst, one transaction and
    one round of sends serve many events; when idle, a batch is a single event and nothing waits."""

    def __init__(self, work: Callable[..., object], size: int, *, batch: int = 1,
                 urgent_work: Callable[..., object] | None = None) -> None:
        if size < 1:
            raise ValueError("at least one event worker")
        self.work = work
        self.urgent_work = urgent_work or (lambda *args: self.work([args]) if self.batch > 1 else self.work(*args))
        self.size = size
        self.batch = max(1, batch)
        self._queues: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(size)]
        # The crisis lane: a text that needs emergency contacts does not wait behind a burst.
        self._lane: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._pending = 0
        self._idle = threading.Condition()
        self._in_hand: dict[Any, float] = {}  # key (an inbox id) -> when it was queued (monotonic)

    def start(self) -> None:
        if self._threads:
            return
        for n, q in enumerate(self._queues):
            t = threading.Thread(target=self._run, args=(q,), name=f"event-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._run, args=(self._lane, True), name="event-crisis-lane", daemon=True)
        t.start()
        self._threads.append(t)

    def shard(self, line_user_id: str | None) -> int:
        """The same user always lands on the same worker (order kept); events without a user on 0."""
        return zlib.crc32(line_user_id.encode()) % self.size if line_user_id else 0

    def in_hand(self, younger_than: float) -> set[Any]:
        """Keys queued here (or being handled) for less than `younger_than` seconds: the stale-event
        sweep leaves these to their worker. Behind a long backlog it used to take them one at a time
        in a transaction each, beside the worker that was about to take them 8 at a time."""
        cutoff = time.monotonic() - younger_than
        with self._idle:
            return {k for k, at in self._in_hand.items() if at > cutoff}

    def submit(self, line_user_id: str | None, *args: Any, urgent: bool = False, key: Any = None) -> None:
        """Queue `work(*args)` on the user's worker; `urgent` (a crisis text) on the crisis lane, which
        handles it at once, ahead of everything queued. The user's lock still keeps it from running
        beside another of their events; it may overtake that user's earlier, ordinary ones: safety first."""
        with self._idle:
            self._pending += 1
            if key is not None:
                self._in_hand[key] = time.monotonic()
        (self._lane if urgent else self._queues[self.shard(line_user_id)]).put((key, args))

    def wait_idle(self, timeout: float) -> bool:
        """True once every submitted event has been handled (used by tests and at shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float = 15.0) -> None:
        for q in [*self._queues, self._lane]:
            q.put(_STOP)
        for t in self._threads:
            t.join(timeout=timeout)
        self._threads = []

    def _run(self, q: queue.SimpleQueue, lane: bool = False) -> None:
        while True:
            items = [q.get()]
            while not lane and len(items) < self.batch and items[-1] is not _STOP:
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    break
            stop = items[-1] is _STOP
            if stop:
                items.pop()
            if items:
                jobs = [args for _, args in items]
                try:
                    if lane:
                        self.urgent_work(*jobs[0])
                    elif self.batch > 1:
                        self.work(jobs)
                    else:
                        self.work(*jobs[0])
                except Exception as exc:  # never lose the worker; the events stay "received" for the sweep
                    log.error("event worker: job failed: %s", describe_error(exc))
                finally:
                    with self._idle:
                        self._pending -= len(items)
                        for key, _ in items:
                            self._in_hand.pop(key, None)
                        self._idle.notify_all()
            if stop:
                return
