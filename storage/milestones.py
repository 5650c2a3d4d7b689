"""Repository: client milestones counselors record (codes only, never free text)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Consultation, Milestone

KINDS = ("group_program", "family_association", "support_station", "job_search", "next_step")
NEXT_STEPS = ("work", "school", "training", "other")


class MilestoneError(ValueError):
    def __init__(self, message: str, *, field: str = "kind") -> None:
        super().__init__(message)
        self.field = field  # which input was wrong (the console says so in Japanese)


def record(session: Session, consultation: Consultation, kind: str, occurred_on: date, now: datetime, *,
           staff_id: int | None, next_step: str | None = None) -> Milestone:
    """A step the consultation's client took. Recorded against the consultation's organization."""
    if kind not in KINDS:
        raise MilestoneError("kind must be one of " + ", ".join(KINDS), field="kind")
    if kind == "next_step":
        if next_step not in NEXT_STEPS:
            raise MilestoneError("next_step must be one of " + ", ".join(NEXT_STEPS), field="next_step")
    else:
        next_step = None
    m = Milestone(client_id=consultation.client_id, consultation_id=consultation.id,
                  organization_id=consultation.organization_id, staff_id=staff_id, kind=kind, next_step=next_step,
                  occurred_on=occurred_on, is_training=consultation.is_training, recorded_at=now)
    session.add(m)
    session.flush()
    return m


def for_client(session: Session, client_id: int) -> list[Milestone]:
    return list(session.scalars(select(Milestone).where(Milestone.client_id == client_id)
                                .order_by(Milestone.occurred_on, Milestone.id)))
