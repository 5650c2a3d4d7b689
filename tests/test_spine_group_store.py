"""Webhooks that arrive together are stored in one transaction (bot.ingest.GroupStore): each request
still gets back exactly its own new events, only after they are committed, or the error."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot import ingest
from bot.ingest import GroupStore
from storage import inbox
from storage.db import urgent_ahead
from storage.models import InboxEvent


def event(key: str) -> tuple[str, dict]:
    return key, {"type": "unfollow", "webhookEventId": key, "timestamp": 1, "mode": "active",
                 "source": {"type": "user", "userId": "U" + key.lower().rjust(32, "0")}}


def stored_keys(app) -> set[str]:
    with app.extensions["tsunagu"].sessions() as s:
        return set(s.scalars(select(InboxEvent.webhook_event_id)))


class HeldWriter:
    """inbox.store_batch, with its first call held until released: the requests that come meanwhile
    queue behind it, as under a burst."""

    def __init__(self, monkeypatch, fail_second: bool = False) -> None:  # noqa: ANN001
        self.real = inbox.store_batch
        self.calls: list[list[str]] = []
        self.started, self.release = threading.Event(), threading.Event()
        self.fail_second = fail_second
        monkeypatch.setattr(inbox, "store_batch", self)

    def __call__(self, session, rows, now):  # noqa: ANN001, ANN204
        self.calls.append([key for key, _ in rows])
        if len(self.calls) == 1:
            self.started.set()
            assert self.release.wait(10)
        elif self.fail_second and len(self.calls) == 2:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return self.real(session, rows, now)


def grouping(app, clock) -> GroupStore:
    """The store with grouping on, whatever the database (it is on for SQLite only: see bot/ingest.py)."""
    store = GroupStore(app.extensions["tsunagu"].sessions, clock)
    store._one_writer = True
    return store


def run_together(store: GroupStore, first: list, others: list[list], writer: HeldWriter) -> list:
    """`first` takes the writer; `others` queue behind it; then the writer is let go."""
    results: list = [None] * (1 + len(others))

    def go(i: int, keyed: list) -> None:
        try:
            results[i] = store.store(keyed)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[i] = exc

    threads = [threading.Thread(target=go, args=(0, first))]
    threads[0].start()
    assert writer.started.wait(10)
    for i, keyed in enumerate(others, start=1):
        threads.append(threading.Thread(target=go, args=(i, keyed)))
        threads[-1].start()
    deadline = time.monotonic() + 10
    while len(store._queued) < len(others) and time.monotonic() < deadline:
        time.sleep(0.005)
    writer.release.set()
    for t in threads:
        t.join(10)
    return results


def test_requests_queued_behind_a_write_are_stored_together_each_getting_its_own_ids(app, clock, monkeypatch):
    store = grouping(app, clock)
    writer = HeldWriter(monkeypatch)
    others = [[event(f"B{i}")] for i in range(5)] + [[event("DUP")], [event("DUP"), event("C")]]
    results = run_together(store, [event("A")], others, writer)

    assert len(writer.calls) == 2, "the seven queued requests share one write"
    assert sorted(writer.calls[1]) == sorted(["B0", "B1", "B2", "B3", "B4", "DUP", "DUP", "C"])
    assert set(results[0]) == {"A"}
    for i in range(5):
        assert set(results[1 + i]) == {f"B{i}"}
    # the same event in two requests of one group (a redelivery racing the original): stored once, and
    # only the first request acts on it
    assert set(results[6]) == {"DUP"} and set(results[7]) == {"C"}
    ids = [i for r in results for i in r.values()]
    assert len(ids) == len(set(ids)) == 8
    assert stored_keys(app) == {"A", "B0", "B1", "B2", "B3", "B4", "DUP", "C"}


def test_a_failed_group_write_fails_every_request_in_it_and_the_next_one_is_stored(app, clock, monkeypatch):
    store = grouping(app, clock)
    writer = HeldWriter(monkeypatch, fail_second=True)
    results = run_together(store, [event("A")], [[event("B")], [event("C")]], writer)

    assert set(results[0]) == {"A"}
    assert all(isinstance(r, OperationalError) for r in results[1:]), "each answers 503: LINE delivers again"
    assert stored_keys(app) == {"A"}
    assert set(store.store([event("B")])) == {"B"}
    assert stored_keys(app) == {"A", "B"}


def test_a_request_alone_is_written_at_once(app, clock):
    store = GroupStore(app.extensions["tsunagu"].sessions, clock)
    assert set(store.store([event("A"), event("B")])) == {"A", "B"}
    assert store.store([event("A")]) == {}  # seen before
    assert store.groups == 2
    with app.extensions["tsunagu"].sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent)) == 2


def test_many_concurrent_webhooks_lose_nothing(app, clock):
    n = 40
    store = GroupStore(app.extensions["tsunagu"].sessions, clock)
    got: dict[int, dict] = {}

    def go(i: int) -> None:
        got[i] = store.store([event(f"E{i}")])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert all(set(got[i]) == {f"E{i}"} for i in range(n))
    assert stored_keys(app) == {f"E{i}" for i in range(n)}


def test_on_sqlite_a_webhook_queued_behind_another_still_goes_before_a_waiting_worker(app, clock, monkeypatch):
    """Between two webhook writes the turn is free for a moment: a worker waiting for it must not slip
    in ahead of the webhook queued behind the first (under a burst the acks fell to the workers' pace
    and a crisis text waited seconds for its 200)."""
    engine = app.extensions["tsunagu"].engine
    if engine.dialect.name != "sqlite":
        assert urgent_ahead(engine) is not None  # PostgreSQL: no turns to keep; nothing to wait for
        return
    turns = engine.tsunagu_write_lock
    store = GroupStore(app.extensions["tsunagu"].sessions, clock)
    writer = HeldWriter(monkeypatch)
    order: list[str] = []
    real_call = writer.__call__

    def noting(session, rows, now):  # noqa: ANN001
        order.append("webhook " + ",".join(k for k, _ in rows))
        return real_call(session, rows, now)

    monkeypatch.setattr(inbox, "store_batch", noting)
    real_serialize = ingest.serialize_all

    def slow_to_take_its_turn(session, keys, **kw):  # noqa: ANN001
        if order:  # the second write: whatever may slip in while it gets going, would
            time.sleep(0.1)
        return real_serialize(session, keys, **kw)

    monkeypatch.setattr(ingest, "serialize_all", slow_to_take_its_turn)

    def worker() -> None:
        assert turns.acquire(timeout=10)
        order.append("worker")
        turns.release()

    first = threading.Thread(target=store.store, args=([event("A")],))
    first.start()
    assert writer.started.wait(10)
    waiting_worker = threading.Thread(target=worker)
    waiting_worker.start()
    second = threading.Thread(target=store.store, args=([event("B")],))
    second.start()
    deadline = time.monotonic() + 10
    while not store._queued and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    writer.release.set()
    for t in (first, second, waiting_worker):
        t.join(10)
    assert order == ["webhook A", "webhook B", "worker"]


def test_on_postgresql_a_request_never_waits_for_another_requests_write(app, clock, monkeypatch):
    store = GroupStore(app.extensions["tsunagu"].sessions, clock)
    if app.extensions["tsunagu"].engine.dialect.name == "sqlite":
        assert store._one_writer  # one writer at a time anyway: there, requests are grouped
        return
    writer = HeldWriter(monkeypatch)
    first = threading.Thread(target=store.store, args=([event("A")],))
    first.start()
    assert writer.started.wait(10)
    try:
        assert set(store.store([event("B")])) == {"B"}  # while A's transaction is still open
    finally:
        writer.release.set()
        first.join(10)
    assert stored_keys(app) == {"A", "B"}
