"""Repository: the durable outbox. Rows are written with the state change that caused them and
claimed by senders with a conditional UPDATE, so any number of sender processes may run.

`claim_due` leases many rows in one statement. On PostgreSQL: `WITH picked AS MATERIALIZED (SELECT …
FOR UPDATE SKIP LOCKED) UPDATE … WHERE id IN picked AND <still claimable> RETURNING …`: a row another
sender is claiming is skipped, and one it claimed meanwhile fails the re-checked condition. On SQLite
the same UPDATE runs under the database's single writer lock. Only a user's earliest pending row is
ever claimable, so two rows of one user are never in flight at once, in any process, and a user never
reads out of order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, and_, bindparam, case, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from storage.models import Client, Consultation, OutboxMessage

WRITTEN_OUTBOX = "written_outbox"  # session.info key: (row, client) of each outbox row written, in order
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
    flush: bool = True,
    consultation: Consultation | None = None,
) -> list[tuple[OutboxMessage, list[int]]]:
    """Write messages as outbox rows of at most five; returns rows with the input indexes they carry.
    `flush=False` leaves them to the unit of work's next flush (their ids are not needed yet).

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
        if consultation is not None:  # linked to the object: it may not have an id yet
            row.consultation = consultation
        session.add(row)
        session.info.setdefault(WRITTEN_OUTBOX, []).append((row, client))  # for `OutboxSender.claim_within`
        rows.append((row, sorted({i for i, _ in chunk})))
    if flush:
        session.flush()
    return rows


def _claimable(now: datetime, give_up_after: timedelta | None = None) -> list[Any]:
    """A pending row whose time has come and whose lease (if any) has lapsed."""
    conds = [
        OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_at <= now,
        (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now),
    ]
    if give_up_after is not None:  # too old to send safely: left for `give_up_expired`
        conds.append(OutboxMessage.created_at > now - give_up_after)
    return conds


def clients_with_pending(session: Session, client_ids: Sequence[int], *, besides: set[int]) -> set[int]:
    """Those of these clients with a pending row other than `besides` (a transaction's own rows): the
    rows that hold back a new one. Without an autoflush: rows not yet written are the caller's to judge."""
    if not client_ids:
        return set()
    t = OutboxMessage.__table__
    with session.no_autoflush:
        found = session.execute(select(t.c.client_id, t.c.id)
                                .where(t.c.client_id.in_(client_ids), t.c.status == "pending")).all()
    return {client_id for client_id, row_id in found if row_id not in besides}


def _not_held_back() -> Any:
    earlier = aliased(OutboxMessage)
    return ~exists().where(and_(earlier.client_id == OutboxMessage.client_id, earlier.status == "pending",
                                earlier.id < OutboxMessage.id))


@dataclass(frozen=True)
class Claimed:
    """A leased row, as the sender needs it: everything to make the call and settle it afterwards."""

    id: int
    client_id: int
    messages: list[dict[str, Any]]
    reply_token: str | None
    reply_token_expires_at: datetime | None
    retry_key: str
    priority: int
    attempts: int
    reply_attempted: bool  # before this claim: an earlier reply attempt's outcome is unknown
    created_at: datetime
    claim_token: str
    line_user_id: str | None = None


_CLAIM_COLUMNS = (OutboxMessage.id, OutboxMessage.client_id, OutboxMessage.messages, OutboxMessage.reply_token,
                  OutboxMessage.reply_token_expires_at, OutboxMessage.retry_key, OutboxMessage.priority,
                  OutboxMessage.attempts, OutboxMessage.reply_attempted, OutboxMessage.created_at)


def claim_due(session: Session, now: datetime, lease: timedelta, *, limit: int, give_up_after: timedelta,
              ids: Sequence[int] | None = None) -> list[Claimed]:
    """Lease up to `limit` due rows (or only those of `ids`) in one statement; crisis rows first.

    Returns them with the user's LINE ID for a push. The caller commits before sending: the lease
    is what keeps another sender off the row while the call is under way.
    """
    token = str(uuid.uuid4())
    pick = select(OutboxMessage.id).where(*_claimable(now, give_up_after), _not_held_back())
    if ids is not None:
        pick = pick.where(OutboxMessage.id.in_(list(ids)))
    # A materialized CTE: the locking subquery runs exactly once. Inlined into the UPDATE, PostgreSQL
    # may rescan it, skip the rows this very statement just locked and updated, and take more than `limit`.
    picked = (pick.order_by(OutboxMessage.priority.desc(), OutboxMessage.id).limit(limit)
              .with_for_update(skip_locked=True, of=OutboxMessage).correlate(None)
              .cte("picked").prefix_with("MATERIALIZED", dialect="postgresql"))
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(select(picked.c.id)), *_claimable(now, give_up_after))
        .values(claimed_until=now + lease, claim_token=token)
        .returning(*_CLAIM_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    rows = result.all()
    if not rows:
        return []
    reach = dict(session.execute(select(Client.id, Client.line_user_id)
                                 .where(Client.id.in_({r.client_id for r in rows}))).all())
    claimed = [Claimed(id=r.id, client_id=r.client_id, messages=list(r.messages), reply_token=r.reply_token,
                       reply_token_expires_at=r.reply_token_expires_at, retry_key=r.retry_key,
                       priority=r.priority, attempts=r.attempts, reply_attempted=bool(r.reply_attempted),
                       created_at=r.created_at, claim_token=token, line_user_id=reach.get(r.client_id))
               for r in rows]
    claimed.sort(key=lambda c: (-c.priority, c.id))
    return claimed


def mark_reply_attempts(session: Session, leases: dict[int, datetime], token: str) -> None:
    """Record, before the call, that a reply is about to be tried (its outcome may never be known),
    with the reply's own lease: shorter than the token's remaining life."""
    if not leases:
        return
    t = OutboxMessage.__table__  # Core, not the ORM's bulk-update-by-primary-key: the claim token is matched too
    session.execute(
        update(t).where(t.c.id == bindparam("b_id"), t.c.claim_token == token)
        .values(reply_attempted=True, claimed_until=bindparam("b_until")),
        [{"b_id": i, "b_until": until} for i, until in leases.items()],
    )


@dataclass(frozen=True)
class Settlement:
    """What became of one claimed row: the values its settle writes."""

    id: int
    claim_token: str
    status: str  # sent, pending, failed
    via: str
    last_error: str | None
    next_attempt_at: datetime
    sent_at: datetime | None
    reply_attempted: bool
    drop_token: bool = False  # LINE called the reply token invalid: never try it again


def settle(session: Session, settlements: Sequence[Settlement]) -> None:
    """Write many outcomes in one statement (executemany). A row whose lease was taken over by another
    sender meanwhile (its claim token changed) is left to that sender."""
    if not settlements:
        return
    t = OutboxMessage.__table__
    session.execute(
        update(t)
        .where(t.c.id == bindparam("b_id"), t.c.claim_token == bindparam("b_token"))
        .values(status=bindparam("b_status"), via=bindparam("b_via"), last_error=bindparam("b_error"),
                next_attempt_at=bindparam("b_next"), sent_at=bindparam("b_sent"),
                reply_attempted=bindparam("b_reply"), attempts=t.c.attempts + 1,
                reply_token=case((bindparam("b_drop", type_=Boolean), None), else_=t.c.reply_token),
                claimed_until=None, claim_token=None),
        [{"b_id": s.id, "b_token": s.claim_token, "b_status": s.status, "b_via": s.via, "b_error": s.last_error,
          "b_next": s.next_attempt_at, "b_sent": s.sent_at, "b_reply": s.reply_attempted, "b_drop": s.drop_token}
         for s in settlements],
    )


def give_up_expired(session: Session, now: datetime, give_up_after: timedelta) -> int:
    """Rows still unsent `give_up_after` past their creation are failed without another call: LINE keeps
    a retry key for 24 hours, so a later push could deliver twice."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.created_at <= now - give_up_after,
               (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
        .values(status="failed", last_error=f"gave up after {int(give_up_after.total_seconds() // 3600)} h",
                claimed_until=None, claim_token=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


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
    return session.scalar(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.status == "pending")) or 0


def cancel_pending_for_client(session: Session, client_id: int) -> int:
    """A user who blocked the account can receive nothing: stop trying (the rows stay as a record)."""
    result = session.execute(update(OutboxMessage).where(OutboxMessage.client_id == client_id,
                                                         OutboxMessage.status == "pending")
                             .values(status="cancelled", last_error="blocked"))
    return result.rowcount
