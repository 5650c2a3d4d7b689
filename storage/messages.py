"""Repository: the message log (in and out)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Consultation, Message, OutboxMessage


def add(session: Session, *, client_id: int, consultation_id: int | None, direction: str, sender: str,
        text: str | None, now: datetime, kind: str = "text", staff_id: int | None = None,
        outbox_id: int | None = None, risk_level: str | None = None,
        risk_cues: list[str] | None = None, outbox: OutboxMessage | None = None,
        consultation: Consultation | None = None) -> Message:
    """Log one message. No flush of its own: the unit of work writes all its messages in one batch at
    its end (or when a query needs them). `outbox` links an outgoing message to its row before that
    row has an id; `consultation` likewise (then `consultation_id` may be None)."""
    m = Message(client_id=client_id, consultation_id=consultation_id, direction=direction, sender=sender,
                text=text, kind=kind, staff_id=staff_id, outbox_id=outbox_id, risk_level=risk_level,
                risk_cues=risk_cues, created_at=now)
    if outbox is not None:
        m.outbox = outbox
    if consultation is not None:
        m.consultation = consultation
    session.add(m)
    if sender == "counselor" and consultation_id is not None:
        # Stats rollup: the earliest counselor message. A minimum, so a late-stored one still lands right.
        session.execute(update(Consultation)
                        .where(Consultation.id == consultation_id,
                               or_(Consultation.first_response_at.is_(None), Consultation.first_response_at > now))
                        .values(first_response_at=now))
    return m


def for_consultation(session: Session, consultation_id: int, *, after_id: int = 0) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.consultation_id == consultation_id,
                                                      Message.id > after_id).order_by(Message.id)))


def with_delivery(session: Session, consultation_id: int, *, after_id: int = 0) -> list[tuple[Message, str | None]]:
    """Messages with the delivery status of their outbox row (pending, sent, failed…) for outgoing ones."""
    rows = session.execute(
        select(Message, OutboxMessage.status)
        .outerjoin(OutboxMessage, OutboxMessage.id == Message.outbox_id)
        .where(Message.consultation_id == consultation_id, Message.id > after_id)
        .order_by(Message.id)
    )
    return [(m, status) for m, status in rows]


def unattached_for_client(session: Session, client_id: int) -> list[Message]:
    """Messages sent outside any consultation (e.g. outside hours)."""
    return list(session.scalars(select(Message).where(Message.client_id == client_id,
                                                      Message.consultation_id.is_(None)).order_by(Message.id)))


def count_incoming_at_level(session: Session, consultation_id: int, level: str) -> int:
    """How many of the user's messages in this consultation triage rated `level`."""
    return session.scalar(select(func.count()).select_from(Message).where(
        Message.consultation_id == consultation_id, Message.direction == "in", Message.sender == "user",
        Message.risk_level == level)) or 0


def count_unattached_at_level(session: Session, client_id: int, level: str, *, since: datetime) -> int:
    """How many of the client's messages outside any consultation (closed hours) since `since` triage
    rated `level`."""
    return session.scalar(select(func.count()).select_from(Message).where(
        Message.client_id == client_id, Message.consultation_id.is_(None), Message.direction == "in",
        Message.sender == "user", Message.risk_level == level, Message.created_at >= since)) or 0
