"""Process one stored inbox event in its own transaction: serialize on the user, claim (and mark
done), handle — or roll back and count the failure, so one bad event never takes the others down with it."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from linebot.v3.webhooks import Event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from flows.consultation import Policy
from handlers.context import HandlerContext, Processed
from handlers.events import dispatch
from storage import inbox
from storage.clients import user_hash
from storage.db import NEW_OUTBOX_IDS, serialize

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def lock_key(policy: Policy, line_user_id: str | None) -> int | None:
    """A signed 64-bit key for the user's advisory lock, from the keyed user hash (never the ID)."""
    if not line_user_id:
        return None
    return int.from_bytes(bytes.fromhex(user_hash(policy.hash_key, line_user_id)[:16]), "big", signed=True)


def process_event(sessions: sessionmaker[Session], policy: Policy, clock: Callable[[], datetime],
                  inbox_id: int, event: dict[str, Any] | None = None) -> Processed:
    """Handle one stored event. `event` is the stored payload when the caller holds it (the webhook
    does); the sweep omits it and it is read from the inbox.

    The transaction first serializes on the user (advisory lock / SQLite writer lock), so one user's
    events never run at the same time, in this process or another; then it claims the event.
    """
    now = clock()
    try:
        if event is None:
            with sessions() as session:
                event = inbox.payload_of(session, inbox_id)
            if event is None:
                return Processed()  # processed meanwhile
        with sessions.begin() as session:
            serialize(session, lock_key(policy, inbox.user_of(event)))
            if not inbox.claim(session, inbox_id, now):  # marked done, unless the work fails
                return Processed()
            session.info.pop(NEW_OUTBOX_IDS, None)
            ctx = HandlerContext(session, policy, now)
            outcome = _run(ctx, event)
            session.flush()
            outbox_ids = sorted(session.info.pop(NEW_OUTBOX_IDS, []))
        # Type and id only: the payload holds a user's words and LINE ID.
        log.info("event %s (%s) %s", event.get("webhookEventId") or f"inbox#{inbox_id}", event.get("type"),
                 outcome)
        return Processed(outbox_ids=outbox_ids, leave=ctx.leave)
    except Exception as exc:
        log.error("event inbox#%s failed: %s\n%s", inbox_id, describe_error(exc), stack_of(exc))
        try:
            with sessions.begin() as session:
                gave_up = inbox.record_failure(session, inbox_id, type(exc).__name__, now, MAX_ATTEMPTS)
        except Exception as again:  # the database itself is down: the sweep retries later
            log.error("event inbox#%s: could not record the failure: %s", inbox_id, describe_error(again))
            return Processed()
        if gave_up:
            log.error("event inbox#%s given up after %s attempts", inbox_id, MAX_ATTEMPTS)
        return Processed()


def describe_error(exc: BaseException) -> str:
    """An error for the log without personal data: the exception type, and for a database error the
    driver's first line (a constraint's name, never the row's values: PostgreSQL's DETAIL line, which
    can quote the failing row, is dropped). Other exceptions' messages are left out entirely, since
    they may quote a user's words (a KeyError on a text, say)."""
    name = type(exc).__name__
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
        return f"{name} ({type(exc.orig).__name__}: {first[:200]})"
    return name


def stack_of(exc: BaseException) -> str:
    """Where it failed: file, line and code of each frame, without the exception's message."""
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()


def _run(ctx: HandlerContext, payload: dict[str, Any]) -> str:
    event_type = payload.get("type")
    source = payload.get("source") or {}
    if isinstance(source, dict) and source.get("type") in ("group", "room"):
        # Decided on the raw payload: even an event the SDK cannot parse must not keep us in a group.
        chat_id = source.get("groupId") or source.get("roomId")
        if event_type in ("join", "message") and isinstance(chat_id, str) and chat_id:
            ctx.leave.append((source["type"], chat_id))
            return "left"
        return "ignored"
    try:
        event = Event.from_dict(payload)
    except (ValueError, TypeError, KeyError) as exc:
        # A kind of event the SDK does not know yet (or a malformed one): acknowledged, not acted on.
        log.warning("event %s of type %s not understood (%s)", payload.get("webhookEventId"),
                    str(event_type)[:32], type(exc).__name__)
        return "not understood"
    if event is None:
        return "empty"
    return dispatch(ctx, event)


def sweep_stale(sessions: sessionmaker[Session], policy: Policy, clock: Callable[[], datetime],
                older_than_seconds: int = 60) -> int:
    """Events stored but never processed (the process died in between): process them now."""
    with sessions.begin() as session:
        ids = inbox.stale_unprocessed(session, clock(), timedelta(seconds=older_than_seconds))
    for inbox_id in ids:
        process_event(sessions, policy, clock, inbox_id)
    return len(ids)
