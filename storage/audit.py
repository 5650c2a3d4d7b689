"""Repository: the audit log (who did what, when). Details never hold message text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent


def record(session: Session, staff_id: int | None, action: str, now: datetime, *,
           consultation_id: int | None = None, detail: str | None = None, ip: str | None = None) -> None:
    session.add(AuditEvent(staff_id=staff_id, action=action, consultation_id=consultation_id,
                           detail=(detail or None) and detail[:300], ip=ip, created_at=now))


def recent(session: Session, limit: int = 200) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
