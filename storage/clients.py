"""Repository: anonymous clients. The LINE user ID is looked up only through its keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Client

# No 0/O/1/I/L: pseudonyms get read aloud and copied between counselors.
_PSEUDONYM_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PSEUDONYM_PREFIX = "相談者-"


def user_hash(key: bytes, line_user_id: str) -> str:
    return hmac.new(key, line_user_id.encode(), hashlib.sha256).hexdigest()


def new_pseudonym(length: int = 4) -> str:
    return PSEUDONYM_PREFIX + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(length))


def find_by_line_user(session: Session, key: bytes, line_user_id: str) -> Client | None:
    return session.scalar(select(Client).where(Client.user_hash == user_hash(key, line_user_id)))


_PREFETCHED = "tsunagu_prefetched_clients"  # session.info: {user hash: (client, created)} for one batch


def prefetch(session: Session, key: bytes, line_user_ids: list[str], now: datetime) -> None:
    """Look up, or create, the clients of a batch of events in two statements (one SELECT, one
    multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`), for `get_or_create` to find in the session
    instead of a query each: each query would also flush the events handled before it. A user the
    INSERT did not return (created elsewhere a moment ago, or a pseudonym taken) is left to
    `get_or_create`'s own path. Call it before the events' work; `forget_prefetched` after it."""
    hashes = {user_hash(key, u): u for u in dict.fromkeys(line_user_ids)}
    if not hashes:
        return
    found = {c.user_hash: (c, False)
             for c in session.scalars(select(Client).where(Client.user_hash.in_(list(hashes))))}
    missing = [h for h in hashes if h not in found]
    if missing:
        stmt = _INSERT[session.get_bind().dialect.name == "sqlite"]
        rows = [{"user_hash": h, "line_user_id": hashes[h], "pseudonym": new_pseudonym(4), "is_friend": True,
                 "is_training": False, "first_seen_at": now, "last_seen_at": now} for h in missing]
        found.update((c.user_hash, (c, True)) for c in session.scalars(stmt, rows))
    session.info[_PREFETCHED] = found


def forget_prefetched(session: Session) -> None:
    session.info.pop(_PREFETCHED, None)


def get_or_create(session: Session, key: bytes, line_user_id: str, now: datetime) -> tuple[Client, bool]:
    """The client for this LINE user, created on first contact. Returns (client, created).

    Insert-or-get without a check-then-insert race: `INSERT … ON CONFLICT DO NOTHING RETURNING *`.
    When the insert returns nothing, either another unit of work created the same user (we read
    theirs) or the random pseudonym was taken (we draw a longer one and try again). The first SELECT
    is only a fast path for the common case of a returning user.
    """
    hashed = user_hash(key, line_user_id)
    prefetched = session.info.get(_PREFETCHED)
    if prefetched is not None and hashed in prefetched:
        client, created = prefetched[hashed]
        if created:
            prefetched[hashed] = (client, False)  # the same user's next event in the batch is not new
            return client, True
    else:
        client = session.scalar(select(Client).where(Client.user_hash == hashed))
    if client is None:
        stmt = _INSERT[session.get_bind().dialect.name == "sqlite"]
        for length in (4, 4, 4, 5, 6, 8, 10):
            client = session.scalar(stmt, {
                "user_hash": hashed, "line_user_id": line_user_id, "pseudonym": new_pseudonym(length),
                "is_friend": True,  # a user who can message us has us as a friend
                "is_training": False, "first_seen_at": now, "last_seen_at": now})
            if client is not None:
                return client, True
            client = session.scalar(select(Client).where(Client.user_hash == hashed))
            if client is not None:
                break  # created by someone else a moment ago
        else:
            raise RuntimeError("could not find a free pseudonym")
    client.last_seen_at = now
    if client.blocked_at is None and client.line_user_id is None:
        client.line_user_id = line_user_id
    return client, False


def _insert_statement(dialect):  # noqa: ANN001, ANN202
    # Built once, the values given as parameters: a statement with the values inside would be a new
    # statement to compile for every new user.
    return dialect.insert(Client).on_conflict_do_nothing().returning(Client)


_INSERT = {True: _insert_statement(sqlite), False: _insert_statement(postgresql)}


def mark_followed(client: Client, line_user_id: str, now: datetime) -> None:
    client.is_friend = True
    client.followed_at = now
    client.blocked_at = None
    client.line_user_id = line_user_id


def mark_blocked(client: Client, now: datetime) -> None:
    # Nothing can reach a blocked user, so the ID is no longer needed: drop it.
    client.is_friend = False
    client.blocked_at = now
    client.line_user_id = None


def mark_training(session: Session, key: bytes, line_user_id: str, now: datetime) -> Client:
    """A scripted practice user: its consultations are marked and left out of statistics."""
    client, _ = get_or_create(session, key, line_user_id, now)
    client.is_training = True
    return client
