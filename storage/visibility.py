"""Who may see which consultation: the ONE rule, enforced on the server by every route (issue 10).

Stable API (the console's pages, its JSON API and the alerts all use these; please keep the names):

- `visible_filter(staff, now) -> SQL condition` on `Consultation`, for any `select()`;
- `may_see(session, staff, consultation, now) -> bool`: the same rule for one consultation (it runs the
  filter, so the two can never disagree);
- `visible_queue(session, staff, now, include_training=True) -> list[Consultation]`: the waiting
  consultations this person may see, in the fair order (storage/fair_order.py);
- `shared_now(now) -> SQL condition`: waiting consultations every counselor sees.

The rule:
- `admin` and `consortium` see every consultation;
- a counselor or coordinator sees
  - everything of their own organization (its queue, its colleagues' chats, its closed consultations),
    which includes what another member transferred to it (a transfer moves the consultation there),
  - what they hold or held (`counselor_id`), which includes what a colleague transferred to them by name,
  - and, while waiting, what every counselor sees: the shared consortium queue (the default
    organization), consultations past their overflow time (`overflow_at`), and every consultation at
    high or imminent risk (at once, whatever organization it was routed to).
A consultation claimed from the shared queue or from another member becomes the claimer's
organization's (flows/handoff.py), so after the claim it follows the first rule.

Being shown a consultation is what lets a person open, claim, note, reply to, transfer or close it
(replying and closing also need the consultation to be theirs, checked in flows/handoff.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from storage import fair_order
from storage.models import Consultation, Organization, Staff

ALL_SEEING_ROLES = ("admin", "consortium")
AT_RISK_RANK = 2


def shared_now(now: datetime) -> ColumnElement[bool]:
    """Waiting consultations every counselor sees: the shared queue, overflowed, or at risk."""
    return or_(Consultation.organization_id.in_(select(Organization.id).where(Organization.is_default.is_(True))),
               Consultation.overflow_at <= now,
               Consultation.risk_rank >= AT_RISK_RANK)


def visible_filter(staff: Staff, now: datetime) -> ColumnElement[bool]:
    if staff.role in ALL_SEEING_ROLES:
        return true()
    return or_(
        Consultation.organization_id == staff.organization_id,
        Consultation.counselor_id == staff.id,
        and_(Consultation.state == "waiting", shared_now(now)),
    )


def may_see(session: Session, staff: Staff, consultation: Consultation, now: datetime) -> bool:
    session.flush()
    return bool(session.scalar(select(exists().where(Consultation.id == consultation.id,
                                                     visible_filter(staff, now)))))


def visible_queue(session: Session, staff: Staff, now: datetime, *,
                  include_training: bool = True) -> list[Consultation]:
    stmt = select(Consultation).where(Consultation.state == "waiting", visible_filter(staff, now))
    if not include_training:
        stmt = stmt.where(Consultation.is_training.is_(False))
    return list(session.scalars(stmt.order_by(*fair_order.ORDER)))
