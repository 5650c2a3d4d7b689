"""Storing webhooks in groups: webhook requests that arrive together share one transaction.

Every request must have its events committed before it answers 200. Under a burst, a transaction
per request (a session, the write turn, one INSERT, a commit) was 35-40% of the process's CPU
(py-spy under bench/webhook_load.py, SQLite). On SQLite, whoever finds the writer free writes
its own rows and those of every request queued meanwhile, in one INSERT and one commit (group commit);
each request still returns only after its own rows are committed, with their inbox ids, or the error.
Alone, a request writes at once: nothing waits for a group to fill. On PostgreSQL each request writes
its own transaction, concurrently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from storage import inbox
from storage.db import serialize_all, urgent_ahead

Keyed = list[tuple[str, dict[str, Any]]]  # (dedup key, event)


class _Ticket:
    __slots__ = ("keyed", "stored", "error", "done")

    def __init__(self, keyed: Keyed) -> None:
        self.keyed = keyed
        self.stored: dict[str, int] = {}
        self.error: BaseException | None = None
        self.done = False


class GroupStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.clock = clock
        self._queued: list[_Ticket] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()  # one group in flight at a time; its holder writes the queue
        self.groups = 0  # transactions written (for tests and benchmarks)
        self._engine = sessions.kw["bind"]
        # Grouping pays where writers queue anyway: SQLite's one writer. On PostgreSQL, serializing a web
        # process's requests behind one commit at a time lowered its acks (197 -> 118/s, bench/webhook_load.py).
        self._one_writer = self._engine.dialect.name == "sqlite"

    def store(self, keyed: Keyed) -> dict[str, int]:
        """{key: inbox id} for this request's events that were new (a key seen before is left out);
        raises what the write raised (the caller answers 503: LINE delivers again)."""
        ticket = _Ticket(keyed)
        if not self._one_writer:  # PostgreSQL takes concurrent commits (and groups their WAL flushes itself)
            self._write([ticket])
            return self._outcome(ticket)
        # On SQLite, queued here the request still goes before the event workers' next write, as when
        # each request took its own turn (without it, a burst's acks fell to the workers' pace and a
        # crisis text waited 15 s for its 200 at 300 events/s; bench/webhook_load.py).
        with urgent_ahead(self._engine):
            with self._queue_lock:
                self._queued.append(ticket)
            with self._writer:
                if not ticket.done:  # the previous group did not take it: write everything queued now
                    with self._queue_lock:
                        group, self._queued = self._queued, []
                    self._write(group)
        return self._outcome(ticket)

    @staticmethod
    def _outcome(ticket: _Ticket) -> dict[str, int]:
        if ticket.error is not None:
            raise ticket.error
        return ticket.stored

    def _write(self, group: list[_Ticket]) -> None:
        try:
            with self.sessions.begin() as session:
                # One write, and LINE is waiting: first in SQLite's line of writers.
                serialize_all(session, [], urgent=True, immediate=False)
                stored = inbox.store_batch(session, [pair for t in group for pair in t.keyed], self.clock())
            self.groups += 1
        except BaseException as exc:  # every request of the group fails alike; none was stored
            for t in group:
                t.error, t.done = exc, True
            return
        for t in group:  # a key sent twice (a redelivery racing the original) belongs to the first request
            t.stored = {key: stored.pop(key) for key, _ in t.keyed if key in stored}
            t.done = True
