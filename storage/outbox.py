"""Repository: the durable outbox. Rows are written with the state change that caused them and
claimed by senders with a conditional UPDATE, so any number of sender processes may run."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session, aliased

from storage.models import Client, OutboxMessage

MAX_MESSAGES_PER_REQUEST = 5  # LINE's limit for one reply or push
MAX_TEXT_CHARS = 5000  # LINE's limit for one text message


def line_length(text: str) -> int:
    """LINE counts text in UTF-16 code units: an emoji outside the BMP counts as two."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> int:
    """The longest prefix (in characters) whose LINE length is within `limit`."""
    if line_length(text) <= limit:
        return len(text)
    units, i = 0, 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Split long text at line breaks where possible, each piece within LINE's limit."""
    parts: list[str] = []
    while line_length(text) > limit:
        fit = _fit(text, limit)
        cut = text.rfind("\n", 0, fit)
        if cut <= 0:
            cut = fit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return parts


def _normalize(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("type") == "text" and line_length(m.get("text", "")) > MAX_TEXT_CHARS:
            pieces = split_text(m["text"])
            # Quick replies belong on the last bubble: LINE shows them under the latest message.
            for i, piece in enumerate(pieces):
                part = {k: v for k, v in m.items() if k != "quickReply" or i == len(pieces) - 1}
                part["text"] = piece
                out.append(part)
        else:
            out.append(m)
    return out


def enqueue(
    session: Session,
    client: Client,
    messages: list[dict[str, Any]],
    now: datetime,
    *,
    consultation_id: int | None = None,
    reply_token: str | None = None,
    reply_token_expires_at: datetime | None = None,
    priority: int = 0,
) -> list[tuple[OutboxMessage, list[int]]]:
    """Write messages as outbox rows of at most five; returns rows with the input indexes they carry.

    Only the first row may use the reply token (a token answers one request). For a blocked user
    the rows are written as cancelled: the record stays, nothing is ever pushed.
    """
    expanded: list[tuple[int, dict[str, Any]]] = []
    for index, m in enumerate(messages):
        expanded.extend((index, part) for part in _normalize([m]))
    rows: list[tuple[OutboxMessage, list[int]]] = []
    for start in range(0, len(expanded), MAX_MESSAGES_PER_REQUEST):
        chunk = expanded[start:start + MAX_MESSAGES_PER_REQUEST]
        first = start == 0
        blocked = client.blocked_at is not None
        row = OutboxMessage(
            client_id=client.id,
            consultation_id=consultation_id,
            messages=[m for _, m in chunk],
            reply_token=reply_token if first else None,
            reply_token_expires_at=reply_token_expires_at if first else None,
            retry_key=str(uuid.uuid4()),
            priority=priority,
            status="cancelled" if blocked else "pending",
            last_error="blocked" if blocked else None,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(row)
        rows.append((row, sorted({i for i, _ in chunk})))
    session.flush()
    return rows


def due_ids(session: Session, now: datetime, limit: int = 20) -> list[int]:
    """Pending rows whose time has come, crisis first; per user strictly in order (an earlier
    unsent row holds back the later ones, so a user never reads messages out of order)."""
    earlier = aliased(OutboxMessage)
    blocked_by_earlier = exists().where(
        and_(earlier.client_id == OutboxMessage.client_id, earlier.status == "pending", earlier.id < OutboxMessage.id)
    )
    return list(session.scalars(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now),
            ~blocked_by_earlier,
        )
        .order_by(OutboxMessage.priority.desc(), OutboxMessage.id)
        .limit(limit)
    ))


def claim(session: Session, outbox_id: int, now: datetime, lease: timedelta) -> str | None:
    """Lease one row for sending; returns the claim token, or None if someone else holds it."""
    token = str(uuid.uuid4())
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.status == "pending",
            (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now),
        )
        .values(claimed_until=now + lease, claim_token=token)
    )
    return token if result.rowcount == 1 else None


def get_claimed(session: Session, outbox_id: int, token: str) -> OutboxMessage | None:
    return session.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id,
                                                      OutboxMessage.claim_token == token))


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return session.scalar(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.status == "pending")) or 0


def cancel_pending_for_client(session: Session, client_id: int) -> int:
    """A user who blocked the account can receive nothing: stop trying (the rows stay as a record)."""
    result = session.execute(update(OutboxMessage).where(OutboxMessage.client_id == client_id,
                                                         OutboxMessage.status == "pending")
                             .values(status="cancelled", last_error="blocked"))
    return result.rowcount
