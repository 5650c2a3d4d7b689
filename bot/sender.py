"""The outbox sender: the only code that sends messages to LINE.

Each row is leased with a conditional UPDATE, sent, and settled in its own transaction, so several
processes can send at once and a crash mid-send only delays a row until its lease lapses. Pushes
carry the row's fixed `X-Line-Retry-Key`: LINE answers a repeat with 409, which counts as sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot import line_client as lc
from storage import outbox as outbox_repo
from storage.models import Client, OutboxMessage

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # longer than any single LINE call with its timeouts
GIVE_UP_AFTER = timedelta(hours=23)  # LINE remembers a retry key for 24 hours; past that a retry could double
MAX_BACKOFF = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at five minutes: an hour-long LINE outage costs ~15 tries per row."""
    return min(timedelta(seconds=2 ** max(attempts, 1)), MAX_BACKOFF)


class OutboxSender:
    def __init__(self, sessions: sessionmaker[Session], gateway: lc.LineGateway,
                 clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.clock = clock
        self._lock = threading.Lock()  # one sweep at a time per process; other processes are fine

    def wait_idle(self) -> None:
        """Return once no sweep is running in this process (used before shutting down)."""
        with self._lock:
            pass

    def send_due(self, limit: int = 50) -> int:
        """One sweep: send every row that is due. Returns how many rows were settled as sent."""
        sent = 0
        with self._lock:
            for _ in range(limit):
                now = self.clock()
                with self.sessions.begin() as session:
                    ids = outbox_repo.due_ids(session, now, limit=5)
                    claimed = None
                    for outbox_id in ids:
                        token = outbox_repo.claim(session, outbox_id, now, LEASE)
                        if token:
                            claimed = (outbox_id, token)
                            break
                if claimed is None:
                    break
                if self._send_one(*claimed):
                    sent += 1
        return sent

    def _send_one(self, outbox_id: int, token: str) -> bool:
        with self.sessions.begin() as session:
            row = outbox_repo.get_claimed(session, outbox_id, token)
            if row is None:
                return False
            client = session.get(Client, row.client_id)
            to = client.line_user_id if client else None
            messages = list(row.messages)
            reply_token = row.reply_token
            fresh = row.reply_token_expires_at is not None and self.clock() < row.reply_token_expires_at
            use_reply = reply_token is not None and fresh
            retry_key = row.retry_key
            reply_attempted = row.reply_attempted
            if use_reply and not reply_attempted:
                row.reply_attempted = True  # recorded before the call: an unknown outcome must be known later

        if use_reply:
            result = self.gateway.reply(reply_token, messages)
            via = "reply"
            if result.outcome == lc.INVALID_REPLY_TOKEN and reply_attempted:
                # Our earlier attempt timed out and the still-fresh token is now spent: it was ours.
                result = lc.SendResult(lc.ACCEPTED, 400, "reply token already used by our earlier attempt")
            elif result.outcome == lc.INVALID_REPLY_TOKEN and to:
                result, via = self.gateway.push(to, messages, retry_key), "push"
        elif to:
            result, via = self.gateway.push(to, messages, retry_key), "push"
        else:
            result, via = lc.SendResult(lc.REFUSED, None, "no way to reach the user (blocked)"), "none"
        return self._settle(outbox_id, token, result, via)

    def send_ids(self, ids: Sequence[int]) -> int:
        """Claim these rows now if due, send, settle; respects per-user order (a row waits while an
        earlier row of the same user is still pending). Returns how many were sent.

        Minimal version (claim + `_send_one` per row) so the ingest worker can send right after its
        commit; the sender's own work replaces this body.
        """
        sent = 0
        for outbox_id in sorted(ids):
            now = self.clock()
            with self.sessions.begin() as session:
                earlier = aliased(OutboxMessage)
                due = session.scalar(
                    select(OutboxMessage.id).where(
                        OutboxMessage.id == outbox_id, OutboxMessage.status == "pending",
                        OutboxMessage.next_attempt_at <= now,
                        ~exists().where(earlier.client_id == OutboxMessage.client_id, earlier.status == "pending",
                                        earlier.id < OutboxMessage.id)))
                token = outbox_repo.claim(session, outbox_id, now, LEASE) if due is not None else None
            if token is None:
                break  # later rows of this user wait behind this one; the sweep sends them in order
            if self._send_one(outbox_id, token):
                sent += 1
            else:
                break
        return sent

    def _settle(self, outbox_id: int, token: str, result: lc.SendResult, via: str) -> bool:
        now = self.clock()
        with self.sessions.begin() as session:
            row = outbox_repo.get_claimed(session, outbox_id, token)
            if row is None:
                return False
            row.attempts += 1
            row.claimed_until = None
            row.claim_token = None
            row.via = via
            if result.outcome in (lc.ACCEPTED, lc.ALREADY_ACCEPTED):
                row.status = "sent"
                row.sent_at = now
                row.last_error = None if result.outcome == lc.ACCEPTED else "409: delivered earlier"
                log.info("outbox %s sent via %s (attempt %s)", row.id, via, row.attempts)
                return True
            row.last_error = result.detail[:200] or result.outcome
            if via == "reply" and result.outcome == lc.RETRY:
                row.reply_attempted = False  # LINE answered and did not take it: the token is unspent
            if result.outcome == lc.REFUSED or now - row.created_at >= GIVE_UP_AFTER:
                row.status = "failed"
                log.error("outbox %s failed for good: %s", row.id, row.last_error)
            else:
                row.next_attempt_at = now + backoff(row.attempts)
                log.warning("outbox %s not sent (%s), retry at %s", row.id, row.last_error, row.next_attempt_at)
            return False


class BackgroundSender:
    """Sends as soon as it is kicked, and sweeps every few seconds for retries that came due."""

    def __init__(self, sender: OutboxSender, interval: float = 2.0) -> None:
        self.sender = sender
        self.interval = interval
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

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.sender.send_due()
            except Exception:  # a bad sweep must not kill the thread; rows stay pending
                log.exception("outbox sweep failed")


class InlineSender:
    """Sends in the caller's thread (tests, and the CLI's one-off commands)."""

    def __init__(self, sender: OutboxSender) -> None:
        self.sender = sender

    def start(self) -> None:
        pass

    def kick(self) -> None:
        self.sender.send_due()

    def stop(self) -> None:
        pass


def describe(row: OutboxMessage) -> str:
    return f"outbox#{row.id} {row.status} via={row.via} attempts={row.attempts}"
