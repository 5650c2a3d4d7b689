"""Repository: atomic counters for login backoff and API rate limits.

Each attempt is counted by ONE statement (an upsert with RETURNING) whose WHERE refuses it while a
backoff runs, so parallel attempts cannot slip past the limit between a check and a count: on
PostgreSQL the row lock of the upsert serializes them, on SQLite the write lock does. The caller
commits right away (a short transaction of its own) so the lock is not held during password checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Throttle, UTCDateTime


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    attempts: int = 0
    retry_after: int = 0  # seconds, when refused


def _upsert(session: Session):  # noqa: ANN202
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(Throttle)


def attempt(session: Session, key: str, now: datetime, *, window: timedelta, free: int,
            backoff: Callable[[int], float]) -> Verdict:
    """Count one attempt under `key` unless a backoff is running.

    The first `free` attempts in `window` pass. From then on each attempt that passes starts a wait of
    `backoff(n)` seconds (n = 1, 2, …) during which every further attempt is refused with the seconds left.
    A quiet `window` starts the count again.
    """
    t = Throttle.__table__
    stale = t.c.window_start < now - window
    stmt = _upsert(session).values(key=key, attempts=1, window_start=now, next_try_at=None)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.key],
        set_={"attempts": case((stale, 1), else_=t.c.attempts + 1),
              "window_start": case((stale, literal(now, UTCDateTime())), else_=t.c.window_start)},
        where=(t.c.next_try_at.is_(None)) | (t.c.next_try_at <= now),
    ).returning(t.c.attempts)
    attempts = session.execute(stmt).scalar()
    if attempts is None:  # the WHERE refused it: a backoff is running
        next_try = session.scalar(select(Throttle.next_try_at).where(Throttle.key == key))
        left = (next_try - now).total_seconds() if next_try else 1
        return Verdict(False, retry_after=max(1, int(left + 0.999)))
    if attempts >= free:
        wait = backoff(attempts - free + 1)
        session.execute(update(Throttle).where(Throttle.key == key)
                        .values(next_try_at=now + timedelta(seconds=wait)))
    return Verdict(True, attempts=attempts)


def forgive(session: Session, key: str) -> None:
    """A success: the count starts again (the account's owner got in)."""
    session.execute(update(Throttle).where(Throttle.key == key).values(attempts=0, next_try_at=None))


def give_back(session: Session, key: str) -> None:
    """A success does not count against an address (only failures and attempts in flight do)."""
    t = Throttle.__table__
    session.execute(update(Throttle).where(Throttle.key == key, t.c.attempts > 0)
                    .values(attempts=t.c.attempts - 1))


def count(session: Session, key: str, now: datetime, *, window: timedelta, limit: int) -> Verdict:
    """A fixed-window rate limit: at most `limit` per `window`; refused ones are counted too."""
    t = Throttle.__table__
    stale = t.c.window_start < now - window
    stmt = _upsert(session).values(key=key, attempts=1, window_start=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.key],
        set_={"attempts": case((stale, 1), else_=t.c.attempts + 1),
              "window_start": case((stale, literal(now, UTCDateTime())), else_=t.c.window_start)},
    ).returning(t.c.attempts, t.c.window_start)
    attempts, started = session.execute(stmt).one()
    if attempts > limit:
        left = (started + window - now).total_seconds()
        return Verdict(False, attempts=attempts, retry_after=max(1, int(left + 0.999)))
    return Verdict(True, attempts=attempts)


def purge(session: Session, now: datetime, older_than: timedelta) -> int:
    """Drop counters that are quiet (no attempt in `older_than`, no backoff running): made-up logins
    and old addresses do not pile up."""
    result = session.execute(
        Throttle.__table__.delete().where(Throttle.window_start < now - older_than,
                                          (Throttle.next_try_at.is_(None)) | (Throttle.next_try_at < now))
    )
    return result.rowcount
