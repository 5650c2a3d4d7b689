"""Repository: member organizations as data, the routing rules, and routing decisions (issue 10).

Functions take the session first and never commit; the caller owns the unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Consultation, Organization, RoutingDecision, RoutingRule

# The columns the consortium file (and the console's edit page) sets.
DATA_COLUMNS = ("name", "kind", "takes", "evenings", "closed_dates", "capacity", "active", "referral_card")
HOLDING_STATES = ("waiting", "active")  # what counts against an organization's capacity


def all_organizations(session: Session) -> list[Organization]:
    return list(session.scalars(select(Organization).order_by(Organization.is_default.desc(), Organization.id)))


def by_slug(session: Session, slug: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.slug == slug))


def by_slugs(session: Session, slugs: Iterable[str]) -> dict[str, Organization]:
    wanted = list(dict.fromkeys(slugs))
    if not wanted:
        return {}
    return {o.slug: o for o in session.scalars(select(Organization).where(Organization.slug.in_(wanted)))}


def upsert(session: Session, slug: str, columns: dict[str, Any], now: datetime) -> str:
    """Insert the organization, or update only the columns that differ. Returns added, changed or unchanged.

    The insert is one `INSERT … ON CONFLICT (slug) DO NOTHING`, so two loads at once cannot both add it."""
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    values = {k: columns[k] for k in DATA_COLUMNS if k in columns}
    inserted = session.execute(dialect.insert(Organization)
                               .values(slug=slug, is_default=False, created_at=now, updated_at=now, **values)
                               .on_conflict_do_nothing(index_elements=["slug"])
                               .returning(Organization.id)).first()
    if inserted is not None:
        return "added"
    org = by_slug(session, slug)
    assert org is not None
    changed = False
    for key, value in values.items():
        if getattr(org, key) != value:
            setattr(org, key, value)
            changed = True
    if changed:
        org.updated_at = now
        session.flush()
    return "changed" if changed else "unchanged"


def rules(session: Session) -> list[RoutingRule]:
    return list(session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)))


def replace_rules(session: Session, new: Sequence[tuple[str, dict[str, Any], list[str]]], now: datetime) -> bool:
    """Make the stored rules exactly `new` (name, match, targets), in order; False when they already were."""
    current = [(r.name, r.match or {}, list(r.targets or [])) for r in rules(session)]
    wanted = [(name, dict(match), list(targets)) for name, match, targets in new]
    if current == wanted:
        return False
    session.execute(delete(RoutingRule))
    for position, (name, match, targets) in enumerate(wanted):
        session.add(RoutingRule(position=position, name=name, match=match, targets=targets, created_at=now))
    session.flush()
    return True


def holding(session: Session, organization_ids: Iterable[int]) -> dict[int, int]:
    """How many consultations each organization holds now (waiting in its queue or active)."""
    ids = list(organization_ids)
    if not ids:
        return {}
    rows = session.execute(select(Consultation.organization_id, func.count())
                           .where(Consultation.organization_id.in_(ids), Consultation.state.in_(HOLDING_STATES))
                           .group_by(Consultation.organization_id))
    counts = {org_id: n for org_id, n in rows}
    return {i: counts.get(i, 0) for i in ids}


def lock(session: Session, organization_id: int) -> None:
    """Serialize routing into one organization (its capacity check): a row lock on PostgreSQL; SQLite has
    one writer anyway. FOR NO KEY UPDATE: two routings wait for each other, but the foreign-key checks of
    rows that merely point at the organization (a claim moving a consultation into it) do not wait."""
    session.execute(select(Organization.id).where(Organization.id == organization_id)
                    .with_for_update(key_share=True))


def record_decision(session: Session, consultation_id: int, kind: str, reason: str, now: datetime, *,
                    organization_id: int | None = None, staff_id: int | None = None, rule: str | None = None,
                    candidates: list[dict[str, Any]] | None = None) -> RoutingDecision:
    row = RoutingDecision(consultation_id=consultation_id, kind=kind, reason=reason, organization_id=organization_id,
                          staff_id=staff_id, rule=rule, candidates=list(candidates or []), created_at=now)
    session.add(row)
    session.flush()
    return row


def decisions(session: Session, consultation_id: int) -> list[RoutingDecision]:
    return list(session.scalars(select(RoutingDecision).where(RoutingDecision.consultation_id == consultation_id)
                                .order_by(RoutingDecision.id)))
