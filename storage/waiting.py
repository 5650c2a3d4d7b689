"""Repository: figures for telling a waiting user where they stand (issue 10)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import Consultation, Staff

AT_RISK_RANK = 2


def recent_waits(session: Session, *, since: datetime, limit: int) -> list[timedelta]:
    """Queued -> claimed of the last `limit` consultations claimed since `since` (not training, not at
    risk: those jump the queue and would make the figure look shorter than an ordinary wait)."""
    rows = session.execute(
        select(Consultation.queued_at, Consultation.claimed_at)
        .where(Consultation.claimed_at.is_not(None), Consultation.queued_at.is_not(None),
               Consultation.claimed_at >= since, Consultation.is_training.is_(False),
               Consultation.risk_rank < AT_RISK_RANK)
        .order_by(Consultation.claimed_at.desc()).limit(limit))
    return [max(claimed - queued, timedelta(0)) for queued, claimed in rows]


def last_counselor(session: Session, client_id: int, *, before_id: int) -> Staff | None:
    """Who answered this client's latest earlier consultation (None if nobody did)."""
    staff_id = session.scalar(select(Consultation.counselor_id)
                              .where(Consultation.client_id == client_id, Consultation.id < before_id,
                                     Consultation.counselor_id.is_not(None))
                              .order_by(Consultation.id.desc()).limit(1))
    return session.get(Staff, staff_id) if staff_id is not None else None


def turn_notice_candidates(session: Session, limit: int = 200) -> list[Consultation]:
    """Waiting consultations whose user asked to be told when it is their turn and was not told yet."""
    return list(session.scalars(
        select(Consultation)
        .where(Consultation.state == "waiting", Consultation.notify_requested_at.is_not(None),
               Consultation.notified_at.is_(None), Consultation.risk_rank < AT_RISK_RANK)
        .order_by(Consultation.id).limit(limit)))


def take_turn_notice(session: Session, consultation_id: int, now: datetime) -> bool:
    """Exactly one sender tells the user: a conditional UPDATE on `notified_at`."""
    result = session.execute(
        update(Consultation)
        .where(Consultation.id == consultation_id, Consultation.state == "waiting",
               Consultation.notified_at.is_(None), Consultation.risk_rank < AT_RISK_RANK)
        .values(notified_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1
