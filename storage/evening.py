"""Repository: the evening clock's claims (issue 10). Each sweep takes its rows with one conditional UPDATE
whose values are the proof the work is done (a stamp set, a request consumed), so two runs at the same
moment never act on a row twice. Session first; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Client, Consultation, OutboxMessage

AT_RISK_RANK = 2  # high and imminent: never closed by the bot
M = TypeVar("M", Client, Consultation, OutboxMessage)


def claim(session: Session, model: type[M], conditions: Sequence[Any], values: dict[str, Any],
          limit: int) -> list[M]:
    """Take up to `limit` rows matching `conditions` and write `values` on them, in one statement:
    `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) AND <conditions again> RETURNING id` on
    PostgreSQL (a row another run holds is skipped; one it took no longer matches), the writer lock on
    SQLite. Returns the taken rows, freshly loaded."""
    picked = (select(model.id).where(*conditions).order_by(model.id).limit(limit)
              .with_for_update(skip_locked=True, of=model).correlate(None)
              .cte("picked").prefix_with("MATERIALIZED", dialect="postgresql"))
    ids = list(session.scalars(
        update(model).where(model.id.in_(select(picked.c.id)), *conditions).values(**values)
        .returning(model.id).execution_options(synchronize_session=False)))
    if not ids:
        return []
    return list(session.scalars(select(model).where(model.id.in_(ids)).order_by(model.id)
                                .execution_options(populate_existing=True)))


def _in_organizations(organization_ids: Sequence[int] | None) -> list[Any]:
    return [] if organization_ids is None else [Consultation.organization_id.in_(list(organization_ids))]


def claim_opening_notices(session: Session, now: datetime, limit: int) -> list[Client]:
    """Clients who asked (outside hours) to hear when the line opens; the request is consumed by the claim."""
    return claim(session, Client,
                 [Client.opening_notice_requested_at.is_not(None), Client.opening_notice_requested_at < now],
                 {"opening_notice_requested_at": None}, limit)


def claim_closing_notices(session: Session, now: datetime, notice_from: datetime, limit: int,
                          organization_ids: Sequence[int] | None = None) -> list[Consultation]:
    """Waiting consultations not yet told, since `notice_from`, that the line closes soon."""
    return claim(session, Consultation,
                 [Consultation.state == "waiting",
                  or_(Consultation.closing_notice_at.is_(None), Consultation.closing_notice_at < notice_from),
                  *_in_organizations(organization_ids)],
                 {"closing_notice_at": now}, limit)


def claim_for_closing(session: Session, limit: int, organization_ids: Sequence[int] | None = None
                      ) -> list[Consultation]:
    """Consultations still waiting (or mid-intake) once the line has closed, at-risk ones excepted. The
    claim writes the close reason (NULL on every open consultation), so a second run finds nothing; the
    caller then closes each through the domain's one bot close, which refuses a consultation at risk."""
    return claim(session, Consultation,
                 [Consultation.state.in_(("waiting", "intake")), Consultation.close_reason.is_(None),
                  Consultation.risk_rank < AT_RISK_RANK, *_in_organizations(organization_ids)],
                 {"close_reason": "service_closed"}, limit)


def claim_idle_chats(session: Session, now: datetime, idle: timedelta, limit: int) -> list[Consultation]:
    """Active chats where the counselor spoke last and the user has been silent for `idle` since, not yet
    prompted for this silence."""
    spoke = Consultation.last_counselor_message_at
    return claim(session, Consultation,
                 [Consultation.state == "active", spoke.is_not(None), spoke <= now - idle,
                  or_(Consultation.last_user_message_at.is_(None), Consultation.last_user_message_at <= spoke),
                  or_(Consultation.idle_prompted_at.is_(None), Consultation.idle_prompted_at < spoke)],
                 {"idle_prompted_at": now}, limit)


def claim_dead_letters(session: Session, now: datetime, limit: int) -> list[OutboxMessage]:
    """Outbox rows failed after their last attempt that no sweep has raised yet."""
    return claim(session, OutboxMessage,
                 [OutboxMessage.status == "failed", OutboxMessage.dead_letter_at.is_(None)],
                 {"dead_letter_at": now}, limit)


def open_dead_letters(session: Session, organization_id: int | None = None, limit: int = 100
                      ) -> list[tuple[OutboxMessage, Consultation | None]]:
    """Raised, unacknowledged dead letters, newest first, with their consultation; `organization_id`
    keeps those of one organization's consultations (and those outside any consultation)."""
    stmt = (select(OutboxMessage, Consultation)
            .outerjoin(Consultation, Consultation.id == OutboxMessage.consultation_id)
            .where(OutboxMessage.dead_letter_at.is_not(None), OutboxMessage.dead_letter_ack_at.is_(None)))
    if organization_id is not None:
        stmt = stmt.where(or_(Consultation.id.is_(None), Consultation.organization_id == organization_id))
    return [(o, c) for o, c in session.execute(stmt.order_by(OutboxMessage.dead_letter_at.desc(),
                                                             OutboxMessage.id.desc()).limit(limit))]


def acknowledge_dead_letter(session: Session, outbox_id: int, staff_id: int, now: datetime,
                            organization_id: int | None = None) -> bool:
    """Mark a raised dead letter seen; with `organization_id`, only one of that organization's
    consultations (or outside any). False when there is no such open dead letter for this viewer."""
    stmt = update(OutboxMessage).where(OutboxMessage.id == outbox_id, OutboxMessage.dead_letter_at.is_not(None),
                                       OutboxMessage.dead_letter_ack_at.is_(None))
    if organization_id is not None:
        ours = select(Consultation.id).where(Consultation.organization_id == organization_id)
        stmt = stmt.where(or_(OutboxMessage.consultation_id.is_(None), OutboxMessage.consultation_id.in_(ours)))
    result = session.execute(stmt.values(dead_letter_ack_at=now, dead_letter_ack_by_id=staff_id)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def request_opening_notice(session: Session, client_id: int, now: datetime) -> None:
    """Ask for one message when the line opens (asking again keeps the first request)."""
    session.execute(update(Client).where(Client.id == client_id, Client.opening_notice_requested_at.is_(None))
                    .values(opening_notice_requested_at=now).execution_options(synchronize_session=False))


def take_read_token(session: Session, consultation_id: int) -> str | None:
    """The user's latest mark-as-read token, consumed (one call to LINE per token, across processes)."""
    token = session.scalar(select(Consultation.read_token).where(Consultation.id == consultation_id))
    if token is None:
        return None
    taken = session.execute(update(Consultation).where(Consultation.id == consultation_id,
                                                       Consultation.read_token == token)
                            .values(read_token=None).execution_options(synchronize_session=False)).rowcount
    return token if taken == 1 else None


def stamp_loading(session: Session, consultation_id: int, now: datetime, every: timedelta) -> bool:
    """True when the loading animation may be shown again (at most once per `every`, across processes)."""
    result = session.execute(
        update(Consultation)
        .where(Consultation.id == consultation_id, Consultation.state == "active",
               or_(Consultation.loading_shown_at.is_(None), Consultation.loading_shown_at <= now - every))
        .values(loading_shown_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


def dead_letter_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.dead_letter_at.is_not(None),
                                 OutboxMessage.dead_letter_ack_at.is_(None))) or 0
