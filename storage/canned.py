"""Repository: canned replies (定型文): the consortium's, an organization's own, and a counselor's own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import CannedReply, Staff


def for_organization(session: Session, organization_id: int) -> list[CannedReply]:
    """The consortium's and this organization's (no one's personal replies)."""
    return list(session.scalars(
        select(CannedReply)
        .where(CannedReply.staff_id.is_(None),
               (CannedReply.organization_id.is_(None)) | (CannedReply.organization_id == organization_id))
        .order_by(CannedReply.sort_order, CannedReply.id)))


def available_to(session: Session, staff: Staff) -> list[CannedReply]:
    """What a staff member can insert: their own first, then their organization's and the consortium's."""
    rows = session.scalars(
        select(CannedReply)
        .where((CannedReply.staff_id == staff.id)
               | (CannedReply.staff_id.is_(None)
                  & (CannedReply.organization_id.is_(None) | (CannedReply.organization_id == staff.organization_id))))
        .order_by(CannedReply.staff_id.is_(None), CannedReply.sort_order, CannedReply.id))
    return list(rows)


def scope_of(reply: CannedReply) -> str:
    if reply.staff_id is not None:
        return "personal"
    return "organization" if reply.organization_id is not None else "consortium"


def add(session: Session, *, title: str, text: str, now: datetime, organization_id: int | None,
        staff_id: int | None) -> CannedReply:
    reply = CannedReply(title=title, text=text, organization_id=organization_id, staff_id=staff_id, created_at=now)
    session.add(reply)
    session.flush()
    return reply


def may_edit(staff: Staff, reply: CannedReply) -> bool:
    """Your own; your organization's if you coordinate it; the consortium's for admins."""
    if reply.staff_id is not None:
        return reply.staff_id == staff.id
    if reply.organization_id is None:
        return staff.role == "admin"
    return staff.role == "admin" or (staff.role in ("coordinator", "consortium")
                                     and reply.organization_id == staff.organization_id)
