"""Repository: the webhook inbox. Insert-once by webhookEventId; processing is claimed conditionally."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import InboxEvent


def store_once(session: Session, event_id: str, payload: dict[str, Any], now: datetime) -> InboxEvent | None:
    """Store the event unless its id was seen before; returns None for a duplicate.

    Runs inside a SAVEPOINT so a duplicate (unique violation from a concurrent delivery) does not
    spoil the caller's transaction.
    """
    if session.scalar(select(InboxEvent.id).where(InboxEvent.webhook_event_id == event_id)) is not None:
        return None
    source = payload.get("source") or {}
    row = InboxEvent(
        webhook_event_id=event_id,
        event_type=str(payload.get("type", "unknown"))[:32],
        source_type=(source.get("type") if isinstance(source, dict) else None),
        is_redelivery=bool((payload.get("deliveryContext") or {}).get("isRedelivery", False)),
        payload=payload,
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def claim(session: Session, inbox_id: int) -> bool:
    """Take an event for processing; False when another worker already took or finished it.

    Claim, work and `mark_done` share one transaction, so "processing" is never committed: a crash
    rolls back to "received" and the sweep retries it.
    """
    result = session.execute(
        update(InboxEvent)
        .where(InboxEvent.id == inbox_id, InboxEvent.status == "received")
        .values(status="processing")
    )
    return result.rowcount == 1


def mark_done(session: Session, inbox_id: int, now: datetime) -> None:
    session.execute(
        update(InboxEvent).where(InboxEvent.id == inbox_id)
        .values(status="done", processed_at=now, payload=None, error=None)
    )


def record_failure(session: Session, inbox_id: int, error: str, now: datetime, max_attempts: int) -> bool:
    """Count a failed attempt (the work itself was rolled back); True when we stop retrying."""
    row = session.get(InboxEvent, inbox_id)
    if row is None:
        return True
    row.attempts += 1
    row.error = error[:200]
    if row.attempts >= max_attempts:
        row.status = "failed"
        row.processed_at = now
        return True
    row.status = "received"
    return False


def stale_unprocessed(session: Session, now: datetime, older_than: timedelta, limit: int = 100) -> list[int]:
    """Events stored but never processed (the process died in between): picked up by a sweep."""
    return list(session.scalars(
        select(InboxEvent.id)
        .where(InboxEvent.status == "received", InboxEvent.received_at < now - older_than)
        .order_by(InboxEvent.id).limit(limit)
    ))
