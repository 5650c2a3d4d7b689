"""Repository: what the counselor workspace shows about many consultations at once, in a few queries.

Everything here is read from the database (never from process memory), so any web process answers the
same: read marks per staff member (unread counts), the last message of each consultation, labels, and
whether the client came before. Functions take the session first and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from storage.models import (
    Client,
    Consultation,
    ConsultationLabel,
    ConsultationRead,
    Message,
    Note,
    Organization,
    Staff,
    Transfer,
)

PREVIEW_SENDERS = ("user", "counselor", "bot")
PREVIEW_CHARS = 60


@dataclass
class Facts:
    """The list row's facts about one consultation, for one staff member."""

    last_text: str | None = None
    last_sender: str | None = None
    last_kind: str | None = None
    last_at: datetime | None = None
    unread: int = 0
    label_ids: list[int] = field(default_factory=list)
    returning: bool = False
    transferred: bool = False  # handed over at least once (a queue badge, issue 10)


def preload(session: Session, consultations: Iterable[Consultation]) -> list[object]:
    """Load the clients, counselors and organizations of many consultations in three queries: their
    relationships then come from the session's identity map instead of one query each. Keep the returned
    list while using them (the identity map holds objects only as long as something else does)."""
    rows = list(consultations)
    loaded: list[object] = []
    staff_ids = {c.counselor_id for c in rows} | {c.preferred_staff_id for c in rows}
    for model, ids in ((Client, {c.client_id for c in rows}), (Staff, staff_ids - {None}),
                       (Organization, {c.organization_id for c in rows})):
        if ids:
            loaded.extend(session.scalars(select(model).where(model.id.in_(ids))))
    return loaded


def facts(session: Session, consultations: list[Consultation], staff_id: int) -> dict[int, Facts]:
    """Last message, unread count (the user's messages after this staff member's read mark), labels and
    returning, for every consultation given."""
    ids = [c.id for c in consultations]
    out = {cid: Facts() for cid in ids}
    if not ids:
        return out
    last_ids = (select(func.max(Message.id)).where(Message.consultation_id.in_(ids),
                                                   Message.sender.in_(PREVIEW_SENDERS))
                .group_by(Message.consultation_id))
    for m in session.execute(select(Message.consultation_id, Message.text, Message.sender, Message.kind,
                                    Message.created_at).where(Message.id.in_(last_ids))):
        f = out[m.consultation_id]
        f.last_text = _preview(m.text)
        f.last_sender, f.last_kind, f.last_at = m.sender, m.kind, m.created_at
    read = (select(ConsultationRead.consultation_id, ConsultationRead.last_read_message_id)
            .where(ConsultationRead.staff_id == staff_id, ConsultationRead.consultation_id.in_(ids))
            .subquery())
    unread = session.execute(
        select(Message.consultation_id, func.count())
        .outerjoin(read, read.c.consultation_id == Message.consultation_id)
        .where(Message.consultation_id.in_(ids), Message.direction == "in", Message.sender == "user",
               Message.id > func.coalesce(read.c.last_read_message_id, 0))
        .group_by(Message.consultation_id))
    for cid, n in unread:
        out[cid].unread = n
    for cid, label_id in session.execute(select(ConsultationLabel.consultation_id, ConsultationLabel.label_id)
                                         .where(ConsultationLabel.consultation_id.in_(ids))
                                         .order_by(ConsultationLabel.label_id)):
        out[cid].label_ids.append(label_id)
    first = dict(session.execute(select(Consultation.client_id, func.min(Consultation.id))
                                 .where(Consultation.client_id.in_({c.client_id for c in consultations}))
                                 .group_by(Consultation.client_id)).all())
    for c in consultations:
        out[c.id].returning = first.get(c.client_id, c.id) < c.id
    for cid in session.scalars(select(Transfer.consultation_id).where(Transfer.consultation_id.in_(ids)).distinct()):
        out[cid].transferred = True
    return out


def _preview(text: str | None) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[:PREVIEW_CHARS - 1] + "…"


def mark_read(session: Session, staff_id: int, consultation_id: int, message_id: int, now: datetime) -> None:
    """Move this staff member's read mark forward to `message_id` (never back): one upsert, safe when two
    tabs or two processes mark at once."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ConsultationRead).values(staff_id=staff_id, consultation_id=consultation_id,
                                                   last_read_message_id=message_id, read_at=now)
    current = ConsultationRead.last_read_message_id
    stmt = stmt.on_conflict_do_update(
        index_elements=[ConsultationRead.staff_id, ConsultationRead.consultation_id],
        set_={"last_read_message_id": case((stmt.excluded.last_read_message_id > current,
                                            stmt.excluded.last_read_message_id), else_=current),
              "read_at": stmt.excluded.read_at})
    session.execute(stmt)


def last_message_id(session: Session, consultation_id: int) -> int:
    return session.scalar(select(func.max(Message.id)).where(Message.consultation_id == consultation_id)) or 0


def notes(session: Session, consultation_id: int, *, after_id: int = 0) -> list[Note]:
    return list(session.scalars(select(Note).where(Note.consultation_id == consultation_id, Note.id > after_id)
                                .order_by(Note.id)))


def transfers(session: Session, consultation_id: int) -> list[Transfer]:
    return list(session.scalars(select(Transfer).where(Transfer.consultation_id == consultation_id)
                                .order_by(Transfer.id)))


def unseen_transfers_to(session: Session, staff_id: int) -> list[Transfer]:
    """Transfers to this staff member they have not opened yet (shown until they open the chat)."""
    return list(session.scalars(select(Transfer).where(Transfer.to_staff_id == staff_id, Transfer.seen_at.is_(None))
                                .order_by(Transfer.id)))


def mark_transfers_seen(session: Session, staff_id: int, consultation_id: int, now: datetime) -> None:
    session.execute(update(Transfer).where(Transfer.to_staff_id == staff_id,
                                           Transfer.consultation_id == consultation_id,
                                           Transfer.seen_at.is_(None)).values(seen_at=now))


def active_of(session: Session, staff_id: int, visible: ColumnElement[bool] | None = None) -> list[Consultation]:
    """The consultations this staff member holds, oldest claim first (their order in the list); `visible`:
    the viewer's visibility filter (storage.visibility.visible_filter)."""
    stmt = select(Consultation).where(Consultation.state == "active", Consultation.counselor_id == staff_id)
    if visible is not None:
        stmt = stmt.where(visible)
    return list(session.scalars(stmt.order_by(Consultation.claimed_at, Consultation.id)))


def live(session: Session, organization_ids: list[int] | None,
         visible: ColumnElement[bool] | None = None) -> list[Consultation]:
    """Waiting and active consultations (of these organizations; None: all; `visible`: the viewer's
    visibility filter), most at risk first, then the longest waiting or longest running."""
    stmt = select(Consultation).where(Consultation.state.in_(("waiting", "active")))
    if organization_ids is not None:
        stmt = stmt.where(Consultation.organization_id.in_(organization_ids))
    if visible is not None:
        stmt = stmt.where(visible)
    return list(session.scalars(stmt.order_by(Consultation.risk_rank.desc(), Consultation.state.desc(),
                                              Consultation.queued_at, Consultation.id)))


def earlier(session: Session, c: Consultation) -> list[Consultation]:
    """The same pseudonymous client's other consultations, newest first."""
    return list(session.scalars(select(Consultation).where(Consultation.client_id == c.client_id,
                                                           Consultation.id != c.id)
                                .order_by(Consultation.id.desc())))


def reopen(session: Session, consultation_id: int, staff_id: int, now: datetime, *, limit: int) -> str:
    """Reopen a closed consultation as this staff member's, in one conditional UPDATE: only while it is
    closed, the client has no other open consultation, and the staff member holds fewer than `limit`
    (call `consultations.lock_staff` first). Returns reopened, open_elsewhere, limit or state.

    A client's new consultation racing this one is stopped by the one-open-per-client unique index; the
    savepoint turns that into "open_elsewhere" instead of a failed transaction."""
    other, mine = aliased(Consultation), aliased(Consultation)
    c = Consultation
    open_elsewhere = exists().where(other.client_id == c.client_id, other.state != "closed", other.id != c.id)
    held = (select(func.count()).select_from(mine)
            .where(mine.state == "active", mine.counselor_id == staff_id).scalar_subquery())
    try:
        with session.begin_nested():
            result = session.execute(
                update(c).where(c.id == consultation_id, c.state == "closed", ~open_elsewhere, held < limit)
                .values(state="active", counselor_id=staff_id, claimed_at=now, closed_at=None, close_reason=None,
                        disposition=None, referral=None, closed_by_id=None)
                .execution_options(synchronize_session=False))
    except IntegrityError:
        return "open_elsewhere"
    if result.rowcount == 1:
        return "reopened"
    row = session.get(Consultation, consultation_id, populate_existing=True)
    if row is None or row.state != "closed":
        return "state"
    if session.scalar(select(exists().where(other.client_id == row.client_id, other.state != "closed"))):
        return "open_elsewhere"
    return "limit"
