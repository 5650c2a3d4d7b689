"""Repository: consultations, organizations and the waiting queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from storage import fair_order, visibility
from storage.models import Client, Consultation, Organization, Staff

OPEN_STATES = ("intake", "waiting", "active")
_DEFAULT_ORG = "tsunagu_default_organization"  # session.info: the default organization, once looked up
AT_RISK_RANK = 2  # high and imminent


def default_organization(session: Session) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.is_default.is_(True)).order_by(Organization.id))


def ensure_default_organization(session: Session, now: datetime, *, slug: str = "default",
                                name: str = "つなぐ相談窓口") -> Organization:
    """The organization whose queue takes new consultations. The migration creates it; this only
    re-creates it if an operator removed it, race-free: `INSERT … ON CONFLICT DO NOTHING`, then read.
    (At most one default is enforced by a partial unique index, so two racing inserts cannot both win.)
    """
    cached = session.info.get(_DEFAULT_ORG)  # a batch of events asks once
    if cached is not None:
        return cached
    org = default_organization(session)
    if org is not None:
        session.info[_DEFAULT_ORG] = org
        return org
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    session.execute(dialect.insert(Organization)
                    .values(slug=slug, name=name, kind="consortium", is_default=True, active=True, created_at=now)
                    .on_conflict_do_nothing())
    org = default_organization(session)
    if org is None:  # the slug existed as an ordinary organization: make it the default
        session.execute(update(Organization).where(Organization.slug == slug).values(is_default=True))
        org = default_organization(session)
    assert org is not None
    return org


def organization_by_slug(session: Session, slug: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.slug == slug))


def open_for_client(session: Session, client_id: int) -> Consultation | None:
    """The client's one open consultation (anything not closed; the partial unique index
    `uq_consultations_one_open_per_client` guarantees there is at most one)."""
    return session.scalar(
        select(Consultation).where(Consultation.client_id == client_id, Consultation.state != "closed")
    )


def latest_completed_intake(session: Session, client_id: int) -> Consultation | None:
    """The client's latest consultation that got through intake (for "welcome back")."""
    return session.scalar(
        select(Consultation)
        .where(Consultation.client_id == client_id, Consultation.who.is_not(None))
        .order_by(Consultation.id.desc())
        .limit(1)
    )


def for_client(session: Session, client_id: int) -> list[Consultation]:
    return list(session.scalars(select(Consultation).where(Consultation.client_id == client_id)
                                .order_by(Consultation.id)))


def create(session: Session, client: Client, organization: Organization, now: datetime,
           *, state: str = "intake", fields: dict[str, Any] | None = None, flush: bool = True) -> Consultation:
    """A new consultation, inserted at once (its id is needed). `fields`: more columns for the INSERT.
    `flush=False` leaves the INSERT to the unit of work's next flush: for a caller that links the rows
    it writes to the object, not to its id (a first message's intake)."""
    c = Consultation(client_id=client.id, organization_id=organization.id, state=state, created_at=now,
                     is_training=client.is_training, flow_data={}, risk_cues=[], risk_topics=[])
    for name, value in (fields or {}).items():
        setattr(c, name, value)
    c.client = client
    c.organization = organization
    session.add(c)
    if flush:
        session.flush()
    return c


def queue(session: Session, organization_ids: list[int] | None = None,
          *, include_training: bool = True) -> list[Consultation]:
    """Waiting consultations in the fair order (storage/fair_order.py: risk first, then wait, with ageing).
    Who may see which is storage/visibility.py's `visible_queue`; this is the unfiltered list."""
    stmt = select(Consultation).where(Consultation.state == "waiting")
    if organization_ids is not None:
        stmt = stmt.where(Consultation.organization_id.in_(organization_ids))
    if not include_training:
        stmt = stmt.where(Consultation.is_training.is_(False))
    return list(session.scalars(stmt.order_by(*fair_order.ORDER)))


def position(session: Session, consultation: Consultation, now: datetime) -> int:
    """How many waiting consultations come before this one, in the fair order, among those the same
    counselors could take first: its organization's queue and what every counselor sees (shared queue,
    overflow, at risk); for a consultation every counselor sees, everyone waiting before it."""
    c = consultation
    session.flush()
    stmt = select(func.count()).select_from(Consultation).where(
        Consultation.state == "waiting", Consultation.id != c.id, fair_order.ahead_of(c))
    everyone_sees = session.scalar(select(exists().where(Consultation.id == c.id, visibility.shared_now(now))))
    if not everyone_sees:
        stmt = stmt.where(or_(Consultation.organization_id == c.organization_id, visibility.shared_now(now)))
    return session.scalar(stmt) or 0


def expired_intakes(session: Session, now: datetime, limit: int = 200) -> list[Consultation]:
    """Intakes past their deadline (read only; a sweep that acts on them uses `claim_expired_intakes`)."""
    return list(session.scalars(
        select(Consultation)
        .where(Consultation.state == "intake", Consultation.flow_expires_at.is_not(None),
               Consultation.flow_expires_at <= now,
               Consultation.risk_rank < AT_RISK_RANK)  # no timeout ever closes a consultation at risk
        .order_by(Consultation.id).limit(limit)
    ))


def _claim(session: Session, conditions: list[Any], values: dict[str, Any], limit: int) -> list[Consultation]:
    """Take rows for a sweep with one conditional UPDATE: `id IN (SELECT … FOR UPDATE SKIP LOCKED)` on
    PostgreSQL, the writer lock on SQLite, and the conditions re-checked on the row itself. A row another
    run (or a user's message being processed) holds is skipped; one it already took no longer matches.
    Returns the taken rows, freshly loaded."""
    picked = (select(Consultation.id).where(*conditions).order_by(Consultation.id).limit(limit)
              .with_for_update(skip_locked=True, of=Consultation).correlate(None)
              .cte("picked").prefix_with("MATERIALIZED", dialect="postgresql"))  # runs once, never rescanned
    ids = list(session.scalars(
        update(Consultation).where(Consultation.id.in_(select(picked.c.id)), *conditions).values(**values)
        .returning(Consultation.id).execution_options(synchronize_session=False)))
    if not ids:
        return []
    return list(session.scalars(select(Consultation).where(Consultation.id.in_(ids)).order_by(Consultation.id)
                                .execution_options(populate_existing=True)))


def claim_expired_intakes(session: Session, now: datetime, limit: int = 200) -> list[Consultation]:
    """Intakes past their deadline, each taken by exactly one sweep: the deadline is consumed (set to
    NULL) by the claiming UPDATE, so a concurrent run finds nothing left to expire."""
    return _claim(session, [Consultation.state == "intake", Consultation.flow_expires_at.is_not(None),
                            Consultation.flow_expires_at <= now,
                            Consultation.risk_rank < AT_RISK_RANK],  # no timeout closes a consultation at risk
                  {"flow_expires_at": None}, limit)


def claim_waiting_updates(session: Session, now: datetime, waited: timedelta, limit: int = 200) -> list[Consultation]:
    """Waiting consultations due their one "still waiting" note, each taken by exactly one sweep
    (`waiting_notice_at` is set by the claiming UPDATE)."""
    return _claim(session, [Consultation.state == "waiting", Consultation.waiting_notice_at.is_(None),
                            Consultation.queued_at <= now - waited],
                  {"waiting_notice_at": now}, limit)


def claim_overflows(session: Session, now: datetime, limit: int = 200) -> list[Consultation]:
    """Waiting consultations past their overflow time whose overflow is not recorded yet, each taken by
    exactly one sweep (`overflowed_at` is set by the claiming UPDATE)."""
    return _claim(session, [Consultation.state == "waiting", Consultation.overflow_at.is_not(None),
                            Consultation.overflow_at <= now, Consultation.overflowed_at.is_(None)],
                  {"overflowed_at": now}, limit)


def claim(session: Session, consultation_id: int, staff_id: int, now: datetime, *, limit: int | None = None,
          organization_id: int | None = None) -> bool:
    """Exactly one counselor wins: a conditional UPDATE that only a waiting consultation matches, and,
    with `limit`, only while the counselor holds fewer than `limit` active consultations (counted in
    the same statement; call `lock_staff` first so one counselor's claims run one after another).

    `organization_id`: the claimer's organization, which the consultation then belongs to (routing,
    issue 10). `claimed_at` keeps the first claim (a consultation transferred back to a queue is claimed
    again; the wait until a counselor first joined stays what it was)."""
    stmt = update(Consultation).where(Consultation.id == consultation_id, Consultation.state == "waiting")
    if limit is not None:
        stmt = stmt.where(_active_count(staff_id) < limit)
    values: dict[str, Any] = {"state": "active", "counselor_id": staff_id,
                              "claimed_at": func.coalesce(Consultation.claimed_at, now)}
    if organization_id is not None:
        values["organization_id"] = organization_id
    result = session.execute(stmt.values(**values))
    return result.rowcount == 1


def reassign(session: Session, consultation_id: int, from_staff_id: int, to_staff_id: int, *, limit: int) -> bool:
    """Move an active consultation to another counselor only while they hold fewer than `limit`."""
    result = session.execute(
        update(Consultation)
        .where(Consultation.id == consultation_id, Consultation.state == "active",
               Consultation.counselor_id == from_staff_id, _active_count(to_staff_id) < limit)
        .values(counselor_id=to_staff_id)
    )
    return result.rowcount == 1


def lock_staff(session: Session, staff_id: int) -> None:
    """Serialize changes to one counselor's load: a row lock on PostgreSQL (SQLite has one writer anyway)."""
    session.execute(select(Staff.id).where(Staff.id == staff_id).with_for_update())


def _active_count(staff_id: int):  # noqa: ANN202
    other = aliased(Consultation)
    return (select(func.count()).select_from(other)
            .where(other.state == "active", other.counselor_id == staff_id).scalar_subquery())


def active_count_for(session: Session, staff_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Consultation)
                          .where(Consultation.state == "active", Consultation.counselor_id == staff_id)) or 0


def set_intake_answers(c: Consultation, answers: dict[str, Any]) -> None:
    for field in ("who", "age_band", "area", "concern"):
        if field in answers:
            setattr(c, field, answers[field])


def unclaimed_at_risk(session: Session, visible: Any = None) -> list[Consultation]:
    """Waiting consultations at high or imminent risk: what the console alerts about, most urgent first.
    `visible`: a storage.visibility filter for one viewer (None: all)."""
    stmt = select(Consultation).where(Consultation.state == "waiting", Consultation.risk_rank >= AT_RISK_RANK)
    if visible is not None:
        stmt = stmt.where(visible)
    return list(session.scalars(stmt.order_by(*fair_order.ORDER)))


def realert(session: Session, consultation_id: int, last_alerted_at: datetime | None, now: datetime) -> bool:
    """Stamp a new alert if nobody else did since `last_alerted_at` (safe across processes)."""
    result = session.execute(
        update(Consultation)
        .where(Consultation.id == consultation_id, Consultation.state == "waiting",
               Consultation.alerted_at == last_alerted_at if last_alerted_at is not None
               else Consultation.alerted_at.is_(None))
        .values(alerted_at=now, alert_count=Consultation.alert_count + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
