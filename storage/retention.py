"""Retention: old message text is purged on a schedule; the rows stay (without text) for statistics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.models import InboxEvent, Message, Note


def purge_text_before(session: Session, cutoff: datetime, now: datetime) -> int:
    """Blank message and note text written before `cutoff`, and any inbox payload still kept.
    Returns the number of messages purged."""
    result = session.execute(
        update(Message).where(Message.created_at < cutoff, Message.text.is_not(None))
        .values(text=None, text_purged_at=now)
    )
    session.execute(update(Note).where(Note.created_at < cutoff).values(text=""))
    session.execute(update(InboxEvent).where(InboxEvent.received_at < cutoff, InboxEvent.payload.is_not(None))
                    .values(payload=None))
    return result.rowcount
