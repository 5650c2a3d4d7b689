"""The scheduled jobs, run by exactly one scheduler at a time across every process.

APScheduler 3 drives the intervals; which process may run them is decided by a lock in the database:

* **PostgreSQL**: a session-level advisory lock (`pg_try_advisory_lock`) held by the scheduler's own
  connection. When that process dies its connection closes and the lock is gone; a standby scheduler
  trying every few seconds takes over. If the connection breaks (the database restarted), the holder
  stops running jobs at its next check and stands by like everyone else.
* **SQLite** (and anything else): a lease row in `scheduler_leases`, taken with a conditional UPDATE
  (or an insert that does nothing on conflict), renewed well within its lifetime, and taken over by
  another process once it has lapsed.

`tsunagu jobs` takes the same lock for its one pass, so it never overlaps a running scheduler; and
every job is a sweep that claims its rows conditionally, so even a forced overlap acts on each row
once (`bot.jobs`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.util import undefined
from sqlalchemy import Connection, Engine, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.jobs import JOBS, RUN_AT_START
from bot.services import Services
from handlers.process import describe_error, stack_of
from storage.models import SchedulerLease

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler"
ADVISORY_KEY = 0x7473756E61677501  # "tsunagu" + 1: one fixed 64-bit key for the scheduler
LEASE_TTL = timedelta(seconds=60)
CHECK_EVERY = 5.0  # seconds between a standby's attempts and a leader's renewals/health checks


class SchedulerLock(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


def holder_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class AdvisoryLock:
    """PostgreSQL: a session-level advisory lock on a connection of its own (autocommit, so it never
    sits idle in a transaction). Held exactly as long as that connection lives."""

    def __init__(self, engine: Engine, key: int = ADVISORY_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return self.still_held()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except DBAPIError:
            conn.invalidate()
            conn.close()
            return False
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except DBAPIError:  # the connection is gone, and the lock with it
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        except DBAPIError:
            pass  # the connection is gone, and the lock with it
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.invalidate()  # closed, not returned to the pool: closing the session is what ends the lock
        conn.close()


class LeaseLock:
    """A lease row: taken when absent or lapsed, renewed by its holder, taken over after it lapses."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime], *,
                 name: str = LOCK_NAME, holder: str | None = None, ttl: timedelta = LEASE_TTL) -> None:
        self.sessions = sessions
        self.clock = clock
        self.name = name
        self.holder = holder or holder_id()
        self.ttl = ttl
        self._held = False

    def try_acquire(self) -> bool:
        now = self.clock()
        with self.sessions.begin() as session:
            taken = session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name,
                       (SchedulerLease.holder == self.holder) | (SchedulerLease.expires_at < now))
                .values(holder=self.holder, expires_at=now + self.ttl, acquired_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount == 1
        if not taken:
            try:
                with self.sessions.begin() as session:
                    session.add(SchedulerLease(name=self.name, holder=self.holder, expires_at=now + self.ttl,
                                               acquired_at=now))
                taken = True
            except IntegrityError:  # someone holds it
                taken = False
        self._held = taken
        return taken

    def still_held(self) -> bool:
        if not self._held:
            return False
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                renewed = session.execute(
                    update(SchedulerLease)
                    .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder,
                           SchedulerLease.expires_at >= now)
                    .values(expires_at=now + self.ttl)
                    .execution_options(synchronize_session=False)
                ).rowcount == 1
        except DBAPIError:
            renewed = False
        self._held = renewed
        return renewed

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        with self.sessions.begin() as session:
            session.execute(update(SchedulerLease)
                            .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                            .values(expires_at=self.clock() - timedelta(seconds=1))
                            .execution_options(synchronize_session=False))


def make_lock(svc: Services) -> SchedulerLock:
    if svc.engine.dialect.name == "postgresql":
        return AdvisoryLock(svc.engine)
    return LeaseLock(svc.sessions, svc.clock)


def _safe(name: str, fn: Callable[[Services], int], svc: Services,
          allowed: Callable[[], bool] = lambda: True) -> Callable[[], None]:
    def run() -> None:
        if not allowed():  # leadership lost since the job was scheduled: the new leader runs it
            return
        try:
            count = fn(svc)
            if count:
                log.info("job %s: %s", name, count)
        except Exception as exc:  # one failing sweep must not stop the others
            log.error("job %s failed: %s\n%s", name, describe_error(exc), stack_of(exc))

    return run


def build_scheduler(svc: Services, *, blocking: bool = False,
                    jobs: Mapping[str, tuple[Callable[[Services], int], float]] = JOBS,
                    allowed: Callable[[], bool] = lambda: True) -> BackgroundScheduler | BlockingScheduler:
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    now = datetime.now(UTC)  # APScheduler's own clock (when to run), not the domain's
    for name, (fn, seconds) in jobs.items():
        scheduler.add_job(_safe(name, fn, svc, allowed), "interval", seconds=seconds, id=name, name=name,
                          next_run_time=now if name in RUN_AT_START else undefined)
    return scheduler


class LeadingScheduler:
    """Runs the jobs only while it holds the scheduler lock; otherwise stands by and keeps trying.

    `step()` is one check (tests call it directly); `start()` runs the checks in a thread (`serve`);
    `run()` runs them in the caller's thread (`tsunagu scheduler`).
    """

    def __init__(self, svc: Services, *, lock: SchedulerLock | None = None, check_every: float = CHECK_EVERY,
                 jobs: Mapping[str, tuple[Callable[[Services], int], Any]] = JOBS) -> None:
        self.svc = svc
        self.lock = lock or make_lock(svc)
        self.check_every = check_every
        self.jobs = jobs
        self.leading = False
        self._aps: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> bool:
        try:
            held = self.lock.still_held() if self.leading else self.lock.try_acquire()
        except Exception as exc:  # the database is away: not leading until it is back
            log.error("scheduler lock check failed: %s", describe_error(exc))
            held = False
        if held and not self.leading:
            log.info("scheduler: this process now runs the scheduled jobs")
            self.leading = True
            if self._aps is None:
                self._aps = build_scheduler(self.svc, jobs=self.jobs, allowed=lambda: self.leading)  # type: ignore[assignment]
                self._aps.start()
            else:
                self._aps.resume()
        elif not held and self.leading:
            log.warning("scheduler: lock lost; standing by")
            self.leading = False
            if self._aps is not None:
                self._aps.pause()
        return self.leading

    def run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.check_every)
        self._shutdown()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="scheduler-leader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        else:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=True)
            self._aps = None
        if self.leading:
            self.leading = False
            try:
                self.lock.release()
            except Exception as exc:  # shutting down: the lock lapses on its own
                log.error("scheduler lock release failed: %s", describe_error(exc))
