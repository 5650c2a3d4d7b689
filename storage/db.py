"""Engine and session factory. One session per request or job; the caller owns the transaction.

Two things here are deliberate, not defaults:

- `hide_parameters=True` on every engine: otherwise a failed statement (an IntegrityError, say) puts
  its bound values — a LINE user ID, a user's words — into the exception text and so into the logs.
- On SQLite a unit of work that must be serialized (an event's transaction) begins with
  `BEGIN IMMEDIATE` (SQLAlchemy's pysqlite "BEGIN" recipe): it takes the writer lock at its start
  instead of relying on pysqlite's implicit BEGIN at the first write and a lucky lock upgrade.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from storage.models import OutboxMessage

SERIALIZED = {"tsunagu_begin": "IMMEDIATE"}  # execution option read by the SQLite "begin" hook
NEW_OUTBOX_IDS = "new_outbox_ids"  # session.info key: outbox rows inserted by this session
_WRITE_LOCK = "tsunagu_write_lock"  # engine attribute (SQLite): this process's writers take turns
_HOLDS_LOCK = "tsunagu_holds_write_lock"  # session.info flag: this session holds its engine's write lock


def make_engine(url: str, *, echo: bool = False, threads: int = 0) -> Engine:
    """`threads`: how many worker threads beyond the web server's may hold a connection at once
    (the event workers); the PostgreSQL pool grows by that many so none waits for a connection."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, hide_parameters=True,
                               connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            # WAL lets the console read while the webhook writes; FKs are off by default in SQLite.
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # WAL + NORMAL: a commit is durable against the process dying (kill -9, a crash, a
            # restart) and the file never corrupts; only an OS crash or power cut may roll back the
            # last few commits. FULL would fsync every commit, ~10 ms each on this class of disk,
            # which caps SQLite at a few dozen events a second. Deployments that must survive power
            # loss without a single lost event run on PostgreSQL.
            if ":memory:" not in url:
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # noqa: ANN001
            # SQLAlchemy's pysqlite "BEGIN" recipe, for the units of work that ask for it: the
            # transaction (and the writer lock) starts here, before the first read. Other units keep
            # pysqlite's default (a transaction starts at the first write), under which a
            # read-then-write never fails with SQLITE_BUSY_SNAPSHOT when another writer got in
            # between. No code here relies on SAVEPOINTs (pysqlite would commit them on RELEASE).
            if conn.get_execution_options().get("tsunagu_begin") == "IMMEDIATE":
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        setattr(engine, _WRITE_LOCK, WriteTurns())
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    _cache_long_statements()
    # The pool keeps as many connections open as may be busy at once (the web server's threads, the
    # event workers, the sender): a smaller pool opened and closed "overflow" connections all through a
    # burst, each a new PostgreSQL backend (py-spy under bench/webhook_load.py: 12% of a web worker's
    # samples were in checking out, pinging and opening connections).
    return create_engine(url, echo=echo, pool_pre_ping=True, hide_parameters=True, pool_size=10 + threads,
                         max_overflow=10)


def _cache_long_statements() -> None:
    """psycopg converts a statement's `%(name)s` placeholders once and caches the result, but only for
    statements up to 4 KB and 50 parameters; a batch's multi-row INSERT (SQLAlchemy's
    "insertmanyvalues": a dozen columns times a few dozen rows) is larger, and was converted again on
    every execution: 23% of an event worker's GIL time under a burst (bench/webhook_load.py, py-spy),
    10% with this (each new batch shape is still converted once). Module constants, not an API: if a
    psycopg release drops them, this does nothing and only speed is lost."""
    try:
        from psycopg import _queries
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return
    if getattr(_queries, "MAX_CACHED_STATEMENT_LENGTH", 0) < 65536:
        _queries.MAX_CACHED_STATEMENT_LENGTH = 65536
    if getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", 0) < 4096:
        _queries.MAX_CACHED_STATEMENT_PARAMS = 4096


class WriteTurns:
    """SQLite's writers in this process, one at a time, with the webhook first: storing an incoming
    event (which LINE waits on) goes ahead of handling stored ones (which nobody waits on), so a burst
    is acknowledged at once and its events pile up into bigger, cheaper batches."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._urgent_waiting = 0

    def acquire(self, *, urgent: bool = False, timeout: float = 60.0) -> bool:
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
            try:
                free = self._cond.wait_for(lambda: not self._held and (urgent or self._urgent_waiting == 0),
                                           timeout)
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            if free:
                self._held = True
            elif not urgent:
                self._cond.notify_all()
            return free

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    @contextmanager
    def urgent_ahead(self) -> Iterator[None]:
        """While inside, ordinary writers wait as if an urgent one were already in line: a webhook
        queued behind another webhook's write (bot/ingest.py) keeps its place ahead of the workers in
        the gap between the two writes."""
        with self._cond:
            self._urgent_waiting += 1
        try:
            yield
        finally:
            with self._cond:
                self._urgent_waiting -= 1
                self._cond.notify_all()

    def locked(self) -> bool:
        return self._held


def urgent_ahead(engine: Engine):  # noqa: ANN201
    """`WriteTurns.urgent_ahead` for SQLite's engines; nothing to do on PostgreSQL."""
    turns = getattr(engine, _WRITE_LOCK, None)
    return turns.urgent_ahead() if turns is not None else nullcontext()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects stay readable after the unit of work commits (views render them).
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "pending_to_persistent", _note_new_outbox_row)
    event.listen(factory, "after_commit", _release_write_lock)
    event.listen(factory, "after_rollback", _release_write_lock)
    return factory


def _release_write_lock(session: Session) -> None:
    # After the DBAPI commit or rollback has happened: the next writer never meets SQLite's lock.
    if session.info.pop(_HOLDS_LOCK, False):
        getattr(session.get_bind(), _WRITE_LOCK).release()


def _note_new_outbox_row(session: Session, instance: object) -> None:
    """Remember which outbox rows this session wrote, so the worker that wrote them can send them
    right after the commit (while the reply token is fresh) without searching for them."""
    if isinstance(instance, OutboxMessage):
        session.info.setdefault(NEW_OUTBOX_IDS, []).append(instance.id)


def serialize(session: Session, key: int | None) -> None:
    """Start the session's transaction so that no other unit of work holding `key` runs at the same
    time, in any process. Must be the first thing the session does.

    PostgreSQL: a transaction-level advisory lock on `key` (released at commit or rollback).
    SQLite: `BEGIN IMMEDIATE` takes the database's writer lock now, so two units of work never both
    read "no client yet" and then both insert; SQLite has one writer at a time anyway.
    """
    serialize_all(session, [key] if key is not None else [])


def serialize_all(session: Session, keys: list[int], *, urgent: bool = False, immediate: bool = True) -> None:
    """`serialize` for a batch of units of work that run in one transaction: every key is locked,
    in ascending order (two batches sharing users, in two processes, can never deadlock).

    SQLite, within this process: writers first take the engine's write lock (released after the
    commit or rollback), so they queue here instead of spinning in SQLite's busy handler, whose
    sleeps (up to 100 ms each) would stall every writer; across processes SQLite's own lock and
    `busy_timeout` still decide. `urgent` (the webhook storing what LINE waits on) goes first.
    `immediate=False` (a unit of work that is one write, with nothing read first) skips `BEGIN
    IMMEDIATE`: its statement takes SQLite's lock itself, and the turn already keeps this process's
    other writers away."""
    bind = session.get_bind()
    lock = getattr(bind, _WRITE_LOCK, None)
    if lock is not None and not session.info.get(_HOLDS_LOCK):
        if not lock.acquire(urgent=urgent, timeout=60):
            raise TimeoutError("the database write lock was not free for 60 s")
        session.info[_HOLDS_LOCK] = True
    try:
        conn = session.connection(execution_options=SERIALIZED) if immediate else session.connection()
    except BaseException:
        if session.info.pop(_HOLDS_LOCK, False):
            lock.release()
        raise
    if conn.dialect.name == "postgresql" and keys:
        if len(set(keys)) == 1:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": keys[0]})
        else:  # one round trip for the batch, the locks taken in ascending order
            conn.execute(text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                              "(SELECT DISTINCT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"),
                         {"keys": sorted(set(keys))})
