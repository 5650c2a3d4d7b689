"""The outbox sender: the only code that sends messages to LINE.

How a row travels
-----------------
1. **Claim** (one transaction, one commit): `storage.outbox.claim_due` leases a batch of due rows in
   one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer lock on SQLite), crisis
   rows first. Only a user's earliest pending row is claimable, so one user's rows are never in
   flight twice, in any process, and never overtake each other. Rows that will try a reply are
   marked `reply_attempted` in the same commit, before any call.
2. **Send**: concurrently, on a bounded thread pool sharing one SDK `ApiClient` (one connection
   pool). No database work happens here.
3. **Settle** (one transaction, one `executemany`): each row is written as sent, pending with its
   next attempt, or failed, but only while the sender still holds its lease (claim token).

Replies, pushes and doubles
---------------------------
* A push carries the row's fixed `X-Line-Retry-Key`; LINE answers a repeat with 409, which counts
  as sent. So a push whose outcome is unknown (timeout, crash) is simply pushed again.
* A reply has no such key: the only evidence that an earlier reply went through is that its token
  is spent. Hence the reply rules:

  - **Reply lease.** A reply attempt's lease ends `REPLY_TAKEOVER_MARGIN` before the token's
    deadline (never shorter than `MIN_REPLY_LEASE`, never longer than `LEASE`), and the call's read
    timeout ends within the lease. A sender that crashed between LINE accepting the reply and the
    settle is therefore taken over while the token is still fresh.
  - **Own spent token.** A row whose earlier reply attempt has an unknown outcome
    (`reply_attempted`) is retried *as a reply* while the token is fresh. If LINE now says the token
    is invalid, the token was spent by our own earlier attempt: the row is sent, nothing is pushed.
    (A first attempt told "invalid reply token" falls back to a push at once.)
  - **Unknown after the deadline.** A row whose reply outcome is unknown and whose token has gone
    stale (every sender was down past the token's life) is **not pushed** — pushing could deliver
    it twice. It is settled as sent, with `last_error` saying the outcome is unknown. The one
    exception is a crisis row (priority > 0): safety comes first, and emergency contacts arriving
    twice is the lesser harm than never.
  - A reply LINE answered with 429/5xx did not go through: the flag is cleared and the next attempt
    is free to push once the token is stale.

* **Give-up.** A row not sent 23 hours after it was written is failed without another call: LINE
  keeps a retry key for 24 hours, so a later push could arrive twice.
* **Rate limits.** A 429 (or 5xx) with `Retry-After` delays that row by at least that long, and
  pauses this process's claims until then (LINE's limits are per channel).

Several sender processes may run at once; nothing here holds a process-wide lock.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue

from sqlalchemy.orm import Session, sessionmaker

from bot import line_client as lc
from handlers.process import describe_error, stack_of
from storage import outbox as outbox_repo
from storage.db import serialize_all
from storage.models import Client, OutboxMessage

log = logging.getLogger(__name__)

SEND_THREADS = 8  # threads for LINE calls per process: enough that a few stalled calls leave room for others
# At most this many of one batch's calls at once: each one more is one more thread contending for the GIL
# (the figures are in bot/workers.py: sending 2-4 at a time was the larger part of the gain), while idle
# pool threads cost nothing.
BATCH_SENDS = 4
LEASE = timedelta(seconds=60)  # a push: longer than any single LINE call with its timeouts
REPLY_TAKEOVER_MARGIN = timedelta(seconds=15)  # a reply's lease ends this long before its token's deadline
MIN_REPLY_LEASE = timedelta(seconds=5)
GIVE_UP_AFTER = timedelta(hours=23)  # LINE remembers a retry key for 24 hours; past that a retry could double
MAX_BACKOFF = timedelta(minutes=5)
CRISIS_MAX_BACKOFF = timedelta(seconds=2)  # a crisis row waits no longer than this (or LINE's Retry-After)
UNKNOWN_NOT_PUSHED = "reply outcome unknown; not pushed (it could arrive twice)"
OWN_SPENT_TOKEN = "reply token spent by our earlier attempt"


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at five minutes: an hour-long LINE outage costs ~15 tries per row."""
    return min(timedelta(seconds=2 ** max(attempts, 1)), MAX_BACKOFF)


def reply_lease(now: datetime, deadline: datetime) -> timedelta:
    """How long a reply attempt may hold its row: a takeover must still find the token fresh."""
    return max(MIN_REPLY_LEASE, min(LEASE, deadline - now - REPLY_TAKEOVER_MARGIN))


@dataclass(frozen=True)
class Job:
    row: outbox_repo.Claimed
    action: str  # reply, push, unknown (reply outcome unknown and token stale: no call)
    lease: timedelta


@dataclass(frozen=True)
class Outcome:
    job: Job
    result: lc.SendResult
    via: str  # reply, push, none
    drop_token: bool = False  # LINE called the token invalid: never try it again


class OutboxSender:
    def __init__(self, sessions: sessionmaker[Session], gateway: lc.LineGateway,
                 clock: Callable[[], datetime], *, workers: int = SEND_THREADS, batch: int = 64) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.clock = clock
        self.workers = max(1, workers)
        self.batch = max(1, batch)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._idle = threading.Condition()
        self._active = 0
        self._paused_until: datetime | None = None

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="outbox-send")
            return self._pool

    @contextmanager
    def busy(self) -> Iterator[None]:
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Return once no send is under way in this process (used before shutting down)."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=timeout)

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    # --- the three steps ----------------------------------------------------------------------------

    def claim(self, limit: int, ids: Sequence[int] | None = None) -> list[Job]:
        """Lease up to `limit` due rows (or only those of `ids`) and commit the lease."""
        now = self.clock()
        if self._paused_until is not None and now < self._paused_until:
            return []
        with self.sessions.begin() as session:
            serialize_all(session, [], immediate=False)  # one statement first: it takes the lock itself
            return self._claim_in(session, now, limit, ids)

    def claim_within(self, session: Session, written: Sequence[tuple[OutboxMessage, Client]],
                     now: datetime) -> Callable[[], list[Job]]:
        """Lease the rows an event's transaction is writing, in their own INSERT (call it before the
        transaction's last flush): the lease commits with the rows, and the worker sends them right
        after. A claim statement per batch cost a quarter of the events' handling (py-spy, SQLite).
        The claim's rules hold: only a user's earliest pending row is leased (an earlier unsent row,
        committed or written just before in this transaction, holds a new one back), and a paused sender
        (LINE's `Retry-After`) leases nothing, leaving the rows to the sweep. Returns what gives the
        jobs once the flush has given the rows their ids."""
        if not written or (self._paused_until is not None and now < self._paused_until):
            return list
        firsts: dict[int, tuple[OutboxMessage, Client]] = {}
        for row, client in written:  # in the order written: a user's first row is their earliest
            if row.client_id is not None and row.status == "pending":  # a cancelled row holds nothing back
                firsts.setdefault(row.client_id, (row, client))
        own = {row.id for row, _ in written if row.id is not None}  # flushed earlier in this transaction
        waiting = outbox_repo.clients_with_pending(session, list(firsts), besides=own)
        token = str(uuid.uuid4())
        picked: list[tuple[OutboxMessage, str | None, str, timedelta]] = []
        for client_id, (row, client) in firsts.items():
            if client_id in waiting:
                continue
            action, lease = self._action(row.reply_token, row.reply_token_expires_at, False, row.priority, now)
            # The attempt is on record before any call, as `mark_reply_attempts` writes it for a claim.
            row.claimed_until, row.claim_token, row.reply_attempted = now + lease, token, action == "reply"
            picked.append((row, client.line_user_id, action, lease))

        def jobs() -> list[Job]:
            out = [Job(outbox_repo.Claimed(
                id=row.id, client_id=row.client_id, messages=list(row.messages), reply_token=row.reply_token,
                reply_token_expires_at=row.reply_token_expires_at, retry_key=row.retry_key, priority=row.priority,
                attempts=row.attempts or 0, reply_attempted=False, created_at=row.created_at, claim_token=token,
                line_user_id=user), action, lease) for row, user, action, lease in picked]
            out.sort(key=lambda j: (-j.row.priority, j.row.id))
            return out

        return jobs

    def _claim_in(self, session: Session, now: datetime, limit: int, ids: Sequence[int] | None) -> list[Job]:
        rows = outbox_repo.claim_due(session, now, LEASE, limit=limit, give_up_after=GIVE_UP_AFTER, ids=ids)
        if not rows:
            return []
        jobs = [self._plan(row, now) for row in rows]
        outbox_repo.mark_reply_attempts(
            session, {j.row.id: now + j.lease for j in jobs if j.action == "reply"}, rows[0].claim_token)
        return jobs

    @classmethod
    def _plan(cls, row: outbox_repo.Claimed, now: datetime) -> Job:
        return Job(row, *cls._action(row.reply_token, row.reply_token_expires_at, row.reply_attempted,
                                     row.priority, now))

    @staticmethod
    def _action(reply_token: str | None, deadline: datetime | None, reply_attempted: bool, priority: int,
                now: datetime) -> tuple[str, timedelta]:
        if reply_token is not None and deadline is not None and now < deadline:
            return "reply", reply_lease(now, deadline)
        if reply_attempted and priority <= 0:
            return "unknown", LEASE
        return "push", LEASE

    def deliver(self, job: Job) -> Outcome:
        """Make the LINE call for one claimed row. Never raises: an unexpected error is an unknown outcome."""
        try:
            return self._deliver(job)
        except Exception as exc:  # noqa: BLE001 - the row must still be settled
            # Type and frames only: an exception's message can quote the message text or the user's ID.
            log.error("outbox %s: send failed unexpectedly: %s\n%s", job.row.id, describe_error(exc), stack_of(exc))
            return Outcome(job, lc.SendResult(lc.UNKNOWN, None, type(exc).__name__), job.action)

    def _deliver(self, job: Job) -> Outcome:
        row = job.row
        if job.action == "unknown":
            return Outcome(job, lc.SendResult(lc.ACCEPTED, None, UNKNOWN_NOT_PUSHED), "reply")
        if job.action == "reply":
            read_timeout = max(1.0, job.lease.total_seconds() - 1.0)
            result = self.gateway.reply(row.reply_token or "", row.messages, read_timeout=read_timeout)
            if result.outcome != lc.INVALID_REPLY_TOKEN:
                return Outcome(job, result, "reply")
            if row.reply_attempted:
                # Our earlier attempt's outcome was unknown and the still-fresh token is now spent: it was ours.
                return Outcome(job, lc.SendResult(lc.ACCEPTED, 400, OWN_SPENT_TOKEN), "reply", drop_token=True)
            if row.line_user_id:
                return Outcome(job, self.gateway.push(row.line_user_id, row.messages, row.retry_key), "push",
                               drop_token=True)
            return Outcome(job, lc.SendResult(lc.REFUSED, 400, "reply token invalid and no way to push"), "reply",
                           drop_token=True)
        if row.line_user_id:
            return Outcome(job, self.gateway.push(row.line_user_id, row.messages, row.retry_key), "push")
        return Outcome(job, lc.SendResult(lc.REFUSED, None, "no way to reach the user (blocked)"), "none")

    def settle(self, outcomes: Sequence[Outcome]) -> int:
        """Write every outcome in one transaction; returns how many rows were settled as sent."""
        if not outcomes:
            return 0
        now = self.clock()
        settlements = []
        sent = retried = failed = 0
        for o in outcomes:
            row, result = o.job.row, o.result
            ok = result.outcome in (lc.ACCEPTED, lc.ALREADY_ACCEPTED)
            # The flag means "a reply may have gone through": kept only when a reply's outcome is unknown.
            reply_unknown = o.via == "reply" and result.outcome == lc.UNKNOWN
            if ok:
                status, next_at, sent_at = "sent", now, now
                error = ("409: delivered earlier" if result.outcome == lc.ALREADY_ACCEPTED
                         else (result.detail or None) if result.status != 200 else None)
                sent += 1
            else:
                error = (result.detail or result.outcome)[:200]
                if result.outcome == lc.REFUSED or now - row.created_at >= GIVE_UP_AFTER:
                    status, next_at, sent_at = "failed", now, None
                    failed += 1
                    log.error("outbox %s failed for good: %s", row.id, error)
                else:
                    delay = backoff(row.attempts + 1)
                    if row.priority > 0:  # emergency contacts: try again as soon as LINE may take them
                        delay = min(delay, CRISIS_MAX_BACKOFF)
                    if result.retry_after is not None:
                        asked = timedelta(seconds=result.retry_after)
                        delay = max(delay, asked)
                        self._pause(now + asked)
                    status, next_at, sent_at = "pending", now + delay, None
                    retried += 1
                    log.warning("outbox %s not sent (%s), retry at %s", row.id, error, next_at.isoformat())
            settlements.append(outbox_repo.Settlement(
                id=row.id, claim_token=row.claim_token, status=status, via=o.via, last_error=error,
                next_attempt_at=next_at, sent_at=sent_at, reply_attempted=reply_unknown, drop_token=o.drop_token))
        with self.sessions.begin() as session:
            serialize_all(session, [], immediate=False)  # one statement first: it takes the lock itself
            outbox_repo.settle(session, settlements)
        if sent:
            log.info("outbox: %s sent, %s to retry, %s failed", sent, retried, failed)
        return sent

    def _pause(self, until: datetime) -> None:
        if self._paused_until is None or until > self._paused_until:
            self._paused_until = until

    # --- ways to run them ---------------------------------------------------------------------------

    def deliver_all(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Send a batch, at most `BATCH_SENDS` calls at once. Each lane takes the next job as it gets
        free, so one call that hangs until its timeout holds up only itself: with fixed shares, every
        later job of its share waited behind it, and the event worker waited for the whole batch. A
        batch holds at most one row per user (claims lease only a user's earliest), so order is kept."""
        lanes = min(len(jobs), self.workers, BATCH_SENDS)
        if lanes <= 1:
            return [self.deliver(j) for j in jobs]
        queue_: SimpleQueue[Job] = SimpleQueue()
        for job in jobs:
            queue_.put(job)

        def lane() -> list[Outcome]:
            out = []
            while True:
                try:
                    job = queue_.get_nowait()
                except Empty:
                    return out
                out.append(self.deliver(job))

        done = {id(o.job): o for share in self.pool.map(lambda _: lane(), range(lanes)) for o in share}
        return [done[id(j)] for j in jobs]

    def give_up_expired(self) -> int:
        now = self.clock()
        with self.sessions.begin() as session:
            serialize_all(session, [], immediate=False)  # one statement first: it takes the lock itself
            count = outbox_repo.give_up_expired(session, now, GIVE_UP_AFTER)
        if count:
            log.error("outbox: %s row(s) given up unsent after %s", count, GIVE_UP_AFTER)
        return count

    def send_due(self, limit: int = 1000) -> int:
        """Send every row that is due, in rounds of claim → concurrent send → settle, until none is
        left or `limit` rows were handled. Returns how many rows were settled as sent."""
        with self.busy():
            self.give_up_expired()
            sent = handled = 0
            while handled < limit:
                jobs = self.claim(min(self.batch, limit - handled))
                if not jobs:
                    break
                sent += self.settle(self.deliver_all(jobs))
                handled += len(jobs)
            return sent

    def finish(self, jobs: Sequence[Job], ids: Sequence[int] = ()) -> int:
        """Send rows claimed by `claim_within` (concurrently), settle them in one transaction, then any
        of `ids` that were held back behind them. Returns how many were settled as sent."""
        sent = 0
        with self.busy():
            if jobs:
                sent = self.settle(self.deliver_all(jobs))
        rest = [i for i in ids if i not in {j.row.id for j in jobs}]
        return sent + (self.send_ids(rest) if rest else 0)

    def send_ids(self, ids: Sequence[int]) -> int:
        """Send these rows now, if due, in the caller's thread (right after the commit that wrote them,
        while the reply token is fresh). A user's earlier unsent row still holds them back."""
        remaining = set(ids)
        sent = 0
        with self.busy():
            while remaining:
                jobs = self.claim(len(remaining), ids=sorted(remaining))
                if not jobs:
                    break
                sent += self.settle([self.deliver(j) for j in jobs])
                remaining -= {j.row.id for j in jobs}
        return sent


class BackgroundSender:
    """A pipeline in one thread: claims whenever the pool has room, settles finished sends in batches,
    and sleeps only when nothing is in flight and the last claim found nothing."""

    def __init__(self, sender: OutboxSender, interval: float = 1.0, *, max_in_flight: int | None = None,
                 settle_every: float = 0.01) -> None:
        self.sender = sender
        self.interval = interval
        self.max_in_flight = max_in_flight or sender.workers * 2
        self.settle_every = settle_every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
            self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.sender.close()

    def _run(self) -> None:
        in_flight: dict[Future[Outcome], Job] = {}
        claim_now = True
        last_give_up = last_claim = 0.0
        while True:
            try:
                if self._stop.is_set() and not in_flight:
                    return
                if time.monotonic() - last_give_up > 30:
                    last_give_up = time.monotonic()
                    self.sender.give_up_expired()
                found = 0
                room = self.max_in_flight - len(in_flight)
                if claim_now and room > 0 and not self._stop.is_set():
                    self._wake.clear()
                    last_claim = time.monotonic()
                    jobs = self.sender.claim(room)
                    found = len(jobs)
                    for job in jobs:
                        in_flight[self.sender.pool.submit(self.sender.deliver, job)] = job
                if not in_flight:
                    if found == 0:
                        self._wake.wait(self.interval)
                    claim_now = True
                    continue
                done, _ = wait(list(in_flight), timeout=self.interval, return_when=FIRST_COMPLETED)
                if done:
                    # Let sends finishing at about the same moment join this settle's batch.
                    more, _ = wait([f for f in in_flight if f not in done], timeout=self.settle_every,
                                   return_when="ALL_COMPLETED") if len(done) < len(in_flight) else (set(), None)
                    finished = list(done) + [f for f in more if f not in done]
                    outcomes = [f.result() for f in finished]
                    for f in finished:
                        del in_flight[f]
                    self.sender.settle(outcomes)
                # A settle may have freed a user's next row; a kick means new rows; room means claim more.
                claim_now = (bool(done) or self._wake.is_set() or found > 0
                             or time.monotonic() - last_claim >= self.interval)
            except Exception as exc:  # a bad round must not kill the thread; leased rows come back after their lease
                log.error("outbox sender round failed: %s\n%s", describe_error(exc), stack_of(exc))
                in_flight = {f: j for f, j in in_flight.items() if not f.done()}
                self._stop.wait(1.0)
                claim_now = True


class InlineSender:
    """Sends in the caller's thread (tests, and the CLI's one-off commands)."""

    def __init__(self, sender: OutboxSender) -> None:
        self.sender = sender

    def start(self) -> None:
        pass

    def kick(self) -> None:
        self.sender.send_due()

    def stop(self) -> None:
        self.sender.close()


def describe(row: OutboxMessage) -> str:
    return f"outbox#{row.id} {row.status} via={row.via} attempts={row.attempts}"
