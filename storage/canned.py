"""Repository: canned replies (定型文), shared ones and an organization's own."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import CannedReply


def for_organization(session: Session, organization_id: int) -> list[CannedReply]:
    return list(session.scalars(
        select(CannedReply)
        .where((CannedReply.organization_id.is_(None)) | (CannedReply.organization_id == organization_id))
        .order_by(CannedReply.sort_order, CannedReply.id)))
