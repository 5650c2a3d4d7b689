"""Repository: labels an organization defines, and the labels on each consultation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import ConsultationLabel, Label

NAME_MAX = 40


def for_organization(session: Session, organization_id: int, *, include_inactive: bool = False) -> list[Label]:
    stmt = select(Label).where(Label.organization_id == organization_id)
    if not include_inactive:
        stmt = stmt.where(Label.active.is_(True))
    return list(session.scalars(stmt.order_by(Label.name, Label.id)))


def for_organizations(session: Session, organization_ids: list[int] | None) -> list[Label]:
    """Active labels of these organizations (None: every organization's)."""
    stmt = select(Label).where(Label.active.is_(True))
    if organization_ids is not None:
        stmt = stmt.where(Label.organization_id.in_(organization_ids))
    return list(session.scalars(stmt.order_by(Label.organization_id, Label.name, Label.id)))


def by_name(session: Session, organization_id: int, name: str) -> Label | None:
    return session.scalar(select(Label).where(Label.organization_id == organization_id, Label.name == name))


def create(session: Session, organization_id: int, name: str, now: datetime) -> Label:
    label = Label(organization_id=organization_id, name=name, active=True, created_at=now)
    session.add(label)
    session.flush()
    return label


def ids_on(session: Session, consultation_id: int) -> list[int]:
    return list(session.scalars(select(ConsultationLabel.label_id)
                                .where(ConsultationLabel.consultation_id == consultation_id)
                                .order_by(ConsultationLabel.label_id)))


def attach(session: Session, consultation_id: int, label_id: int, staff_id: int | None, now: datetime) -> None:
    """Put a label on a consultation (once: a second time changes nothing)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(ConsultationLabel)
                    .values(consultation_id=consultation_id, label_id=label_id, staff_id=staff_id, added_at=now)
                    .on_conflict_do_nothing())


def detach(session: Session, consultation_id: int, label_id: int) -> None:
    session.execute(delete(ConsultationLabel).where(ConsultationLabel.consultation_id == consultation_id,
                                                    ConsultationLabel.label_id == label_id))
