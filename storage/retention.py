"""Retention: after `RETENTION_DAYS`, every copy of what people wrote is erased and the LINE user ID of
a client silent that long is dropped; the rows stay for statistics (counts, times, flags, dispositions).

Copies of text, and where each is erased:
- messages.text (both ways, and the system notices that may quote a user's word)
- outbox.messages (the LINE message objects as sent: text and quick replies), once no longer pending
- notes.text (counselors' notes), transfers.note (hand-over notes)
- inbox_events.payload (events kept because they failed, or were never processed: words and LINE ID)
- consultations.flow_data (an intake's answers in progress) and read_token (LINE's mark-as-read token)
- clients.line_user_id of a client not seen since the cutoff (the keyed hash stays, so a returning user
  is still recognised and the ID comes back with their next message)

Each UPDATE only touches rows that still hold something, so the purge is idempotent and two runs at once
erase each row once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, case, cast, func, null, update
from sqlalchemy.orm import Session

from storage.models import Client, Consultation, InboxEvent, Message, Note, OutboxMessage, Transfer


def _holds(column) -> object:  # noqa: ANN001
    """A JSON column holding something: not SQL NULL, not JSON null, not an empty object or list."""
    return cast(column, Text).not_in(("null", "{}", "[]"))


def purge_text_before(session: Session, cutoff: datetime, now: datetime) -> int:
    """Erase every copy of text written before `cutoff`, and LINE IDs of clients silent since then.
    Returns how many rows were changed (each counted once, however many runs)."""
    changed = 0

    def run(stmt) -> None:  # noqa: ANN001
        nonlocal changed
        changed += session.execute(stmt.execution_options(synchronize_session=False)).rowcount

    run(update(Message).where(Message.created_at < cutoff, Message.text.is_not(None))
        .values(text=None, text_purged_at=now))
    run(update(OutboxMessage).where(OutboxMessage.created_at < cutoff, OutboxMessage.status != "pending",
                                    OutboxMessage.text_purged_at.is_(None))
        .values(messages=[], reply_token=None, text_purged_at=now))
    run(update(Note).where(Note.created_at < cutoff, Note.text != "").values(text=""))
    run(update(Transfer).where(Transfer.created_at < cutoff, Transfer.note.is_not(None)).values(note=None))
    run(update(InboxEvent).where(InboxEvent.received_at < cutoff, _holds(InboxEvent.payload))
        # never processed in all that time: given up, or the stale-inbox sweep would keep picking it
        .values(payload=null(), status=case((InboxEvent.status == "received", "failed"), else_=InboxEvent.status),
                error=case((InboxEvent.status == "received", "purged unprocessed"), else_=InboxEvent.error)))
    run(update(Consultation).where(Consultation.state == "closed", Consultation.created_at < cutoff,
                                   _holds(Consultation.flow_data))
        .values(flow_data={}))
    run(update(Consultation)
        .where(Consultation.read_token.is_not(None),
               func.coalesce(Consultation.last_user_message_at, Consultation.created_at) < cutoff)
        .values(read_token=None))
    run(update(Client).where(Client.last_seen_at < cutoff, Client.line_user_id.is_not(None))
        .values(line_user_id=None))
    return changed
