"""Repository: the webhook inbox. Insert-once by webhookEventId; processing is claimed conditionally."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import InboxEvent


def _row(event_id: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    source = payload.get("source") or {}
    delivery = payload.get("deliveryContext") or {}
    return {
        "webhook_event_id": event_id,
        "event_type": str(payload.get("type", "unknown"))[:32],
        "source_type": str(source.get("type"))[:16] if isinstance(source, dict) and source.get("type") else None,
        "is_redelivery": bool(delivery.get("isRedelivery", False)) if isinstance(delivery, dict) else False,
        "payload": payload,
        "status": "received",
        "attempts": 0,
        "received_at": now,
    }


def store_batch(session: Session, events: Sequence[tuple[str, dict[str, Any]]], now: datetime) -> dict[str, int]:
    """Store a webhook's events in ONE statement; returns {webhookEventId: inbox id} for the new ones.

    `INSERT … ON CONFLICT (webhook_event_id) DO NOTHING RETURNING id`: an event seen before (LINE's
    redelivery, or the same id twice in one body, or a concurrent delivery) is simply not returned.
    """
    rows, seen = [], set()
    for event_id, payload in events:
        if event_id not in seen:
            seen.add(event_id)
            rows.append(_row(event_id, payload, now))
    if not rows:
        return {}
    stmt = _STORE[session.get_bind().dialect.name == "sqlite"]
    # The rows go as parameters, not in the statement (`.values(rows)` made every batch a new
    # statement to compile, about half the cost of storing one event); SQLAlchemy still sends them
    # as one multi-row INSERT ("insertmanyvalues").
    return {key: inbox_id for inbox_id, key in session.execute(stmt, rows)}


def _store_statement(dialect):  # noqa: ANN001, ANN202
    table = InboxEvent.__table__  # Core, not the ORM's bulk insert: this runs before every 200
    return (dialect.insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.webhook_event_id])
            .returning(table.c.id, table.c.webhook_event_id))


_STORE = {True: _store_statement(sqlite), False: _store_statement(postgresql)}


def store_once(session: Session, event_id: str, payload: dict[str, Any], now: datetime) -> int | None:
    """Store one event unless its id was seen before; returns its inbox id, or None for a duplicate."""
    return store_batch(session, [(event_id, payload)], now).get(event_id)


def claim_many(session: Session, inbox_ids: Sequence[int], now: datetime) -> set[int]:
    """Take a batch of events for processing and mark them done, in ONE conditional UPDATE; returns
    the ids this call took (an id another worker already took or finished is left out).

    The claim and the work share one transaction: if the work fails, the rollback puts the events
    back to "received" (with their payloads) and the sweep retries them; if it commits, they are done
    and their payloads (a user's words and LINE ID) are gone. The worker acts on the payloads it
    already holds (from the webhook body, or read by the sweep), so nothing is read back here.
    """
    if not inbox_ids:
        return set()
    t = InboxEvent.__table__
    result = session.execute(
        update(t).where(t.c.id.in_(list(inbox_ids)), t.c.status == "received")
        .values(status="done", processed_at=now, payload=None, error=None)
        .returning(t.c.id)
    )
    return set(result.scalars())


def payload_of(session: Session, inbox_id: int) -> dict[str, Any] | None:
    """The stored event of a row not yet processed (None once processed: the payload is dropped)."""
    return session.scalar(select(InboxEvent.payload).where(InboxEvent.id == inbox_id,
                                                           InboxEvent.status == "received"))


def user_of(payload: Any) -> str | None:
    source = payload.get("source") if isinstance(payload, dict) else None
    user_id = source.get("userId") if isinstance(source, dict) else None
    return user_id if isinstance(user_id, str) and user_id else None


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
