"""The evening clock's scheduled jobs (issue 10): thin wrappers that read the clock once, run the domain
sweep (flows/evening.py) in batches of one transaction each, and kick the sender when they wrote messages.
Every sweep claims its rows, so two runs at once act once (tests/test_evening_clock.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.services import Services
from flows import evening

BATCH = 200  # rows per transaction; a sweep goes on until a batch comes back short


def _sweep(svc: Services, step: Callable[[Session, datetime, int], int], *, sends: bool = True) -> int:
    now = svc.clock()
    count = 0
    while True:
        with svc.sessions.begin() as session:
            done = step(session, now, BATCH)
        count += done
        if done < BATCH:
            break
    if count and sends:
        svc.sender.kick()
    return count


def opening_notices(svc: Services) -> int:
    """The line is open: one push to each user who asked, outside hours, to be told."""
    return _sweep(svc, lambda s, now, n: evening.send_opening_notices(s, svc.policy, now, n))


def closing_notices(svc: Services) -> int:
    """CLOSING_NOTICE_MINUTES before the end: one note to everyone waiting."""
    lead = timedelta(minutes=svc.settings.closing_notice_minutes)
    return _sweep(svc, lambda s, now, n: evening.send_closing_notices(s, svc.policy, now, lead, n))


def close_queue(svc: Services) -> int:
    """The line has closed: waiting consultations are closed kindly (never one at risk)."""
    return _sweep(svc, lambda s, now, n: evening.close_queue(s, svc.policy, now, n))


def idle_prompts(svc: Services) -> int:
    """An active chat whose user went quiet for IDLE_CHAT_MINUTES: a prompt in the console."""
    idle = timedelta(minutes=svc.settings.idle_chat_minutes)
    return _sweep(svc, lambda s, now, n: evening.prompt_idle_chats(s, svc.policy, now, idle, n), sends=False)


def dead_letters(svc: Services) -> int:
    """Outbox rows failed for good: raised to coordinators in the console."""
    return _sweep(svc, lambda s, now, n: evening.alert_dead_letters(s, now, n), sends=False)


JOBS = {
    # name: (function, seconds between runs)
    "opening_notices": (opening_notices, 60),
    "closing_notices": (closing_notices, 60),
    "close_queue": (close_queue, 60),
    "idle_prompts": (idle_prompts, 60),
    "dead_letters": (dead_letters, 60),
}
