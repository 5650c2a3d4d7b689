"""Repository: the audit log (who did what, when). Details never hold message text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import AuditEvent

VIEW_WINDOW = timedelta(minutes=10)  # reopening a chat within this long is the same viewing


def record(session: Session, staff_id: int | None, action: str, now: datetime, *,
           consultation_id: int | None = None, detail: str | None = None, ip: str | None = None) -> None:
    session.add(AuditEvent(staff_id=staff_id, action=action, consultation_id=consultation_id,
                           detail=(detail or None) and detail[:300], ip=ip, created_at=now))


def record_view(session: Session, staff_id: int, consultation_id: int, now: datetime, *, action: str = "view",
                ip: str | None = None, window: timedelta = VIEW_WINDOW) -> bool:
    """Record that a staff member opened a consultation, unless they did (with the same action) within
    `window`: a chat left open and refreshed by the page is one viewing, not a row every few seconds.
    Returns whether a row was written."""
    last = session.scalar(select(func.max(AuditEvent.created_at))
                          .where(AuditEvent.consultation_id == consultation_id, AuditEvent.staff_id == staff_id,
                                 AuditEvent.action == action))
    if last is not None and now - last < window:
        return False
    record(session, staff_id, action, now, consultation_id=consultation_id, ip=ip)
    return True


def recent(session: Session, limit: int = 200) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Filter:
    staff_id: int | None = None
    consultation_id: int | None = None
    action: str | None = None


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent]
    number: int
    has_next: bool


def page(session: Session, where: Filter, number: int = 1, per_page: int = 50) -> Page:
    """One page of the log, newest first, filtered by staff member, consultation and action."""
    stmt = select(AuditEvent)
    if where.staff_id is not None:
        stmt = stmt.where(AuditEvent.staff_id == where.staff_id)
    if where.consultation_id is not None:
        stmt = stmt.where(AuditEvent.consultation_id == where.consultation_id)
    if where.action:
        stmt = stmt.where(AuditEvent.action == where.action)
    number = max(1, number)
    rows = list(session.scalars(stmt.order_by(AuditEvent.id.desc()).offset((number - 1) * per_page)
                                .limit(per_page + 1)))
    return Page(rows[:per_page], number, len(rows) > per_page)

