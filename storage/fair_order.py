"""The queue's one order (issue 10): risk first, then wait, with ageing so nobody low-risk is starved.

1. High and imminent first (imminent before high), longest wait first.
2. Everyone else by `queue_key`: the time they joined the queue, less a head start for a moderate risk
   (`set_queue_key`, `HEAD_START` per risk step). A moderate consultation goes ahead of a low-risk one
   that joined less than `HEAD_START` before it, never of one that has waited longer than that: a
   low-risk user waits behind at most `HEAD_START` worth of moderate arrivals, however many come.
3. Ties: the earlier consultation.

The console's queue and the position a user is told are both this order (`ORDER`, `ahead_of`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlalchemy.sql.elements import ColumnElement

from storage.models import Consultation

AT_RISK_RANK = 2
HEAD_START = timedelta(minutes=10)  # what one step of risk below high is worth, in minutes of waiting

TIER = case((Consultation.risk_rank >= AT_RISK_RANK, Consultation.risk_rank), else_=0)
# At risk: by the time they joined; otherwise by the fair-order key (set_queue_key).
KEY = case((Consultation.risk_rank >= AT_RISK_RANK, func.coalesce(Consultation.queued_at, Consultation.created_at)),
           else_=func.coalesce(Consultation.queue_key, Consultation.queued_at, Consultation.created_at))
ORDER = (TIER.desc(), KEY.asc(), Consultation.id.asc())


def queue_key(queued_at: datetime, risk_rank: int, head_start: timedelta = HEAD_START) -> datetime:
    """When a consultation counts as having joined the queue, for the order among the not-at-risk
    (moderate: `head_start` earlier; at risk the tier decides and the key is not used)."""
    return queued_at - head_start * (1 if risk_rank == AT_RISK_RANK - 1 else 0)


def set_queue_key(c: Consultation, head_start: timedelta = HEAD_START) -> None:
    """Call when a consultation joins the queue and whenever its risk rises while it waits."""
    if c.queued_at is not None:
        c.queue_key = queue_key(c.queued_at, c.risk_rank or 0, head_start)


def sort_key(c: Consultation) -> tuple[Any, ...]:
    """The same order in Python (for lists already loaded): smaller comes first."""
    return (-_tier(c), _key(c), c.id)


def _tier(c: Consultation) -> int:
    return c.risk_rank if (c.risk_rank or 0) >= AT_RISK_RANK else 0


def _key(c: Consultation) -> datetime:
    if (c.risk_rank or 0) >= AT_RISK_RANK:
        return c.queued_at or c.created_at
    return c.queue_key or c.queued_at or c.created_at


def ahead_of(c: Consultation) -> ColumnElement[bool]:
    """Rows that come before `c` in the order (a filter over Consultation)."""
    tier, key = _tier(c), _key(c)
    return or_(TIER > tier,
               and_(TIER == tier, or_(KEY < key, and_(KEY == key, Consultation.id < c.id))))


def waited(c: Consultation, now: datetime) -> timedelta:
    return now - (c.queued_at or c.created_at)
