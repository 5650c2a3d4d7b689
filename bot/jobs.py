"""Scheduled jobs: each is one idempotent sweep over deadlines in the database, returning a count.

The scheduler calls them; tests call them directly after moving the clock. Every sweep is safe to run
twice at once (two processes, or `tsunagu jobs` beside a scheduler): each claims its rows with a
conditional UPDATE before acting (the outbox lease, the inbox claim, the consumed intake deadline,
the stamped waiting notice), and the purge only blanks text that is still there. On top of that, only
one scheduler runs them at a time (`bot.scheduler`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.evening_jobs import JOBS as EVENING_JOBS
from bot.services import Services
from flows import consultation as domain
from handlers.process import sweep_stale
from storage.retention import purge_text_before

log = logging.getLogger(__name__)


def send_outbox(svc: Services) -> int:
    return svc.outbox.send_due()


STALE_AFTER_SECONDS = 15  # an event is handled within milliseconds of being stored: 15 s means trouble
# An event still queued in this process's workers is theirs for this long (a backlog, not trouble); after
# it, the sweep takes it too, in case its worker is stuck.
IN_HAND_SECONDS = 120


def reprocess_stale_inbox(svc: Services) -> int:
    events = svc.events
    in_hand = (lambda: events.in_hand(IN_HAND_SECONDS)) if events is not None else set
    return sweep_stale(svc.sessions, svc.policy, svc.clock, older_than_seconds=STALE_AFTER_SECONDS,
                       in_hand=in_hand)


BATCH = 200  # rows per transaction in a sweep; a sweep goes on until a batch comes back short


def expire_intakes(svc: Services) -> int:
    now = svc.clock()
    count = 0
    while True:
        with svc.sessions.begin() as session:
            done = domain.expire_intakes(session, svc.policy, now, limit=BATCH)
        count += done
        if done < BATCH:
            break
    if count:
        svc.sender.kick()
    return count


def waiting_updates(svc: Services) -> int:
    now = svc.clock()
    after = timedelta(minutes=svc.settings.waiting_update_minutes)
    count = 0
    while True:
        with svc.sessions.begin() as session:
            done = domain.send_waiting_updates(session, svc.policy, now, after, limit=BATCH)
        count += done
        if done < BATCH:
            break
    if count:
        svc.sender.kick()
    return count


def record_overflows(svc: Services) -> int:
    """Routing (issue 10): record each consultation that overflowed to every member (visibility itself
    compares `overflow_at` with the clock, so it never waits for this sweep)."""
    from flows.routing import overflow_due

    now = svc.clock()
    with svc.sessions.begin() as session:
        return overflow_due(session, now)


def notify_turns(svc: Services) -> int:
    """「順番が来たら知らせて」: one push to each user who asked and is next now (issue 10)."""
    from flows import turns

    now = svc.clock()
    with svc.sessions.begin() as session:
        count = turns.notify_turns(session, now)
    if count:
        svc.sender.kick()
    return count


def purge_old_text(svc: Services) -> int:
    now = svc.clock()
    with svc.sessions.begin() as session:
        return purge_text_before(session, now - timedelta(days=svc.settings.retention_days), now)


def purge_security_records(svc: Services) -> int:
    """Quiet login/API counters and console sessions past their absolute lifetime."""
    from storage import staff, throttle

    now = svc.clock()
    with svc.sessions.begin() as session:
        return (throttle.purge(session, now, timedelta(hours=1))
                + staff.purge_sessions(session, now, timedelta(hours=svc.settings.session_max_hours + 1)))


JOBS = {
    # name: (function, seconds between runs)
    "send_outbox": (send_outbox, 5),
    # After a crash, what was stored but not handled (a crisis text among it, perhaps) goes on within
    # seconds; the sweep's claim keeps it from being handled twice beside a live worker.
    "reprocess_stale_inbox": (reprocess_stale_inbox, 5),
    "expire_intakes": (expire_intakes, 60),
    "waiting_updates": (waiting_updates, 60),
    "record_overflows": (record_overflows, 60),
    "notify_turns": (notify_turns, 30),
    "purge_old_text": (purge_old_text, 6 * 3600),
    "purge_security_records": (purge_security_records, 3600),
    **EVENING_JOBS,  # the evening clock (issue 10): opening, closing notice, close, idle chats, dead letters
}

RUN_AT_START = ("send_outbox", "reprocess_stale_inbox")  # a scheduler that just took over catches up first


def run_all(svc: Services) -> dict[str, int]:
    """One pass of every job (used by `tsunagu jobs run` and tests)."""
    return {name: fn(svc) for name, (fn, _) in JOBS.items()}
