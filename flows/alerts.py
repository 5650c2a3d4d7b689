"""Console alerts for consultations at risk: a new or escalated high/imminent consultation alerts every
counselor on duty (on every console page), and again every `REALERT_AFTER` while nobody has claimed it.

The alert is a durable fact (`alerted_at`, `alert_count` on the consultation), not a timer: the console
polls, `realert_due` is one idempotent sweep over deadlines on the injected clock, and a re-alert is a
conditional UPDATE, so two processes never count it twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from storage import consultations as consultation_repo
from storage.models import Consultation

REALERT_AFTER = timedelta(minutes=2)


def raise_alert(consultation: Consultation, now: datetime) -> None:
    """A consultation became high or imminent (or rose from high to imminent): alert now."""
    consultation.alerted_at = now
    consultation.alert_count = (consultation.alert_count or 0) + 1


def realert_due(session: Session, now: datetime, every: timedelta = REALERT_AFTER) -> int:
    """Alert again for each unclaimed at-risk consultation last alerted `every` ago. Returns how many."""
    count = 0
    for c in consultation_repo.unclaimed_at_risk(session):
        if c.alerted_at is None or now - c.alerted_at >= every:
            if consultation_repo.realert(session, c.id, c.alerted_at, now):
                count += 1
    if count:
        session.expire_all()
    return count


def pending(session: Session, visible: Any = None) -> list[Consultation]:
    """Unclaimed consultations at risk, most urgent first; `visible`: one viewer's filter
    (storage.visibility.visible_filter), so the alerts agree with every other route."""
    return consultation_repo.unclaimed_at_risk(session, visible)
