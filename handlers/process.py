"""Process one stored inbox event in its own transaction: claim, handle, mark done — or roll back and
count the failure, so one bad event never takes the others down with it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from linebot.v3.webhooks import Event
from sqlalchemy.orm import Session, sessionmaker

from flows.consultation import Policy
from handlers.context import HandlerContext
from handlers.events import dispatch
from storage import inbox
from storage.models import InboxEvent

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def process_event(sessions: sessionmaker[Session], policy: Policy, clock: Callable[[], datetime],
                  inbox_id: int) -> list[tuple[str, str]]:
    """Returns group/room chats to leave once the transaction has committed."""
    now = clock()
    try:
        with sessions.begin() as session:
            if not inbox.claim(session, inbox_id):
                return []
            row = session.get(InboxEvent, inbox_id)
            assert row is not None
            ctx = HandlerContext(session, policy, now)
            outcome = _run(ctx, row)
            inbox.mark_done(session, inbox_id, now)
        # Type and id only: the payload holds a user's words and LINE ID.
        log.info("event %s (%s) %s", row.webhook_event_id, row.event_type, outcome)
        return ctx.leave
    except Exception as exc:
        log.exception("event inbox#%s failed: %s", inbox_id, type(exc).__name__)
        with sessions.begin() as session:
            gave_up = inbox.record_failure(session, inbox_id, type(exc).__name__, now, MAX_ATTEMPTS)
        if gave_up:
            log.error("event inbox#%s given up after %s attempts", inbox_id, MAX_ATTEMPTS)
        return []


def _run(ctx: HandlerContext, row: InboxEvent) -> str:
    source = (row.payload or {}).get("source") or {}
    if isinstance(source, dict) and source.get("type") in ("group", "room"):
        # Decided on the raw payload: even an event the SDK cannot parse must not keep us in a group.
        chat_id = source.get("groupId") or source.get("roomId")
        if row.event_type in ("join", "message") and isinstance(chat_id, str) and chat_id:
            ctx.leave.append((source["type"], chat_id))
            return "left"
        return "ignored"
    try:
        event = Event.from_dict(row.payload or {})
    except (ValueError, TypeError, KeyError) as exc:
        # A kind of event the SDK does not know yet (or a malformed one): acknowledged, not acted on.
        log.warning("event %s of type %s not understood (%s)", row.webhook_event_id, row.event_type,
                    type(exc).__name__)
        return "not understood"
    if event is None:
        return "empty"
    return dispatch(ctx, event)


def sweep_stale(sessions: sessionmaker[Session], policy: Policy, clock: Callable[[], datetime],
                older_than_seconds: int = 60) -> int:
    """Events stored but never processed (the process died in between): process them now."""
    from datetime import timedelta

    with sessions.begin() as session:
        ids = inbox.stale_unprocessed(session, clock(), timedelta(seconds=older_than_seconds))
    for inbox_id in ids:
        process_event(sessions, policy, clock, inbox_id)
    return len(ids)
