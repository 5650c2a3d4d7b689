"""Repository: LINE friend events (follows and blocks over time), for the friends figures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from storage.models import FriendEvent

KINDS = ("follow", "block")


def record(session: Session, client_id: int, kind: str, now: datetime) -> None:
    """One follow or block, as it happened; a block then a re-follow are two more rows, never an overwrite."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    session.add(FriendEvent(client_id=client_id, kind=kind, occurred_at=now))
