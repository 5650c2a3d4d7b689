"""Process one stored inbox event in its own transaction: serialize on the user, claim (and mark
done), handle — or roll back and count the failure, so one bad event never takes the others down with it."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from linebot.v3.webhooks import Event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from flows.consultation import Policy
from flows.triage import assess
from handlers.context import ClaimWithin, HandlerContext, Processed
from handlers.events import creates_client, dispatch
from storage import clients, inbox
from storage.clients import user_hash
from storage.db import NEW_OUTBOX_IDS, serialize_all
from storage.outbox import WRITTEN_OUTBOX

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def lock_key(policy: Policy, line_user_id: str | None) -> int | None:
    """A signed 64-bit key for the user's advisory lock, from the keyed user hash (never the ID)."""
    if not line_user_id:
        return None
    return int.from_bytes(bytes.fromhex(user_hash(policy.hash_key, line_user_id)[:16]), "big", signed=True)


def process_event(sessions: sessionmaker[Session], policy: Policy, clock: Callable[[], datetime],
                  inbox_id: int, event: dict[str, Any] | None = None, *,
                  claim: ClaimWithin | None = None, urgent: bool = False) -> Processed:
    """Handle one stored event. `event` is the stored payload when the caller holds it (the webhook
    does); the sweep omits it and it is read from the inbox. `claim` leases the replies the event
    wrote inside its own transaction (the caller then sends them at once).

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
        return _in_one_transaction(sessions, policy, now, [(inbox_id, event)], claim, urgent=urgent)
    except Exception as exc:
        _record_failure(sessions, inbox_id, exc, now)
        return Processed()


def process_batch(sessions: sessionmaker[Session], policy: Policy, clock: Callable[[], datetime],
                  items: Sequence[tuple[int, dict[str, Any]]], *, claim: ClaimWithin | None = None) -> Processed:
    """Handle several stored events (in their order) in ONE transaction: one lock round, one commit,
    one claim of their replies, where a transaction each would cost that many times over. Each user's
    lock is taken first, in key order. If any event fails, the whole batch rolls back and each event is
    handled again on its own, so the others still go through and the bad one is counted as today."""
    if len(items) == 1:
        return process_event(sessions, policy, clock, items[0][0], items[0][1], claim=claim)
    try:
        return _in_one_transaction(sessions, policy, clock(), list(items), claim)
    except Exception as exc:
        log.warning("a batch of %d events failed (%s); handling them one by one", len(items), describe_error(exc))
        done = Processed()
        for inbox_id, event in items:
            done = done.merge(process_event(sessions, policy, clock, inbox_id, event, claim=claim))
        return done


def _in_one_transaction(sessions: sessionmaker[Session], policy: Policy, now: datetime,
                        items: list[tuple[int, dict[str, Any]]], claim: ClaimWithin | None, *,
                        urgent: bool = False) -> Processed:
    done: list[tuple[int, dict[str, Any], str]] = []
    leave: list[tuple[str, str]] = []
    # Parsed before the transaction: on SQLite it holds the one writer lock, which the webhook waits for.
    typed = {inbox_id: _parse(event) for inbox_id, event in items}
    with sessions.begin() as session:
        keys = [lock_key(policy, inbox.user_of(event)) for _, event in items]
        serialize_all(session, [k for k in keys if k is not None], urgent=urgent)
        session.info.pop(NEW_OUTBOX_IDS, None)
        session.info.pop(WRITTEN_OUTBOX, None)
        # Every event of the batch claimed (and marked done, unless the work fails) in one UPDATE,
        # before any other work: a statement per event cost as much as the event's own writes.
        claimed = inbox.claim_many(session, [inbox_id for inbox_id, _ in items], now)
        parsed = [(inbox_id, event, typed[inbox_id]) for inbox_id, event in items if inbox_id in claimed]
        # The batch's clients in two statements, before any event's work (see storage/clients.prefetch).
        clients.prefetch(session, policy.hash_key, [u for _, _, (e, _) in parsed if (u := creates_client(e))], now)
        for inbox_id, event, (typed, outcome) in parsed:
            ctx = HandlerContext(session, policy, now)
            if typed is not None:
                outcome = dispatch(ctx, typed)
            elif outcome == "left":
                ctx.leave.append(_chat_of(event["source"]))  # type: ignore[arg-type]  # "left" means it has one
            done.append((inbox_id, event, outcome))
            leave.extend(ctx.leave)
        # The fresh replies are leased by the flush that writes them (no claim statement after it).
        leased = claim(session, session.info.pop(WRITTEN_OUTBOX, []), now) if claim is not None else list
        session.flush()
        clients.forget_prefetched(session)
        outbox_ids = sorted(session.info.pop(NEW_OUTBOX_IDS, []))
        jobs = leased()
    for inbox_id, event, outcome in done:
        # Type and id only: the payload holds a user's words and LINE ID.
        log.info("event %s (%s) %s", event.get("webhookEventId") or f"inbox#{inbox_id}", event.get("type"), outcome)
    return Processed(outbox_ids=outbox_ids, leave=leave, jobs=jobs)


def _record_failure(sessions: sessionmaker[Session], inbox_id: int, exc: Exception, now: datetime) -> None:
    log.error("event inbox#%s failed: %s\n%s", inbox_id, describe_error(exc), stack_of(exc))
    try:
        with sessions.begin() as session:
            serialize_all(session, [])
            gave_up = inbox.record_failure(session, inbox_id, type(exc).__name__, now, MAX_ATTEMPTS)
    except Exception as again:  # the database itself is down: the sweep retries later
        log.error("event inbox#%s: could not record the failure: %s", inbox_id, describe_error(again))
        return
    if gave_up:
        log.error("event inbox#%s given up after %s attempts", inbox_id, MAX_ATTEMPTS)


def is_crisis_text(payload: dict[str, Any]) -> bool:
    """A text message that calls for emergency contacts (triage's own verdict, before anything else is
    done with it): such an event goes on the crisis lane instead of waiting its turn."""
    message = payload.get("message") if payload.get("type") == "message" else None
    text = message.get("text") if isinstance(message, dict) and message.get("type") == "text" else None
    return isinstance(text, str) and assess(text).is_crisis


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


def _parse(payload: dict[str, Any]) -> tuple[Event | None, str]:
    """The SDK's typed event, or None with what was done instead ("left", "ignored", "not understood")."""
    event_type = payload.get("type")
    source = payload.get("source") or {}
    if isinstance(source, dict) and source.get("type") in ("group", "room"):
        # Decided on the raw payload: even an event the SDK cannot parse must not keep us in a group.
        if event_type in ("join", "message") and _chat_of(source) is not None:
            return None, "left"
        return None, "ignored"
    try:
        event = Event.from_dict(payload)
    except (ValueError, TypeError, KeyError) as exc:
        # A kind of event the SDK does not know yet (or a malformed one): acknowledged, not acted on.
        log.warning("event %s of type %s not understood (%s)", payload.get("webhookEventId"),
                    str(event_type)[:32], type(exc).__name__)
        return None, "not understood"
    if event is None:
        return None, "empty"
    return event, ""


def _chat_of(source: dict[str, Any]) -> tuple[str, str] | None:
    """(group|room, its id) of an event's source, or None without a usable id."""
    chat_id = source.get("groupId") or source.get("roomId")
    return (source["type"], chat_id) if isinstance(chat_id, str) and chat_id else None


def sweep_stale(sessions: sessionmaker[Session], policy: Policy, clock: Callable[[], datetime],
                older_than_seconds: int = 60, *, in_hand: Callable[[], set[int]] = set) -> int:
    """Events stored but never processed (the process died in between): process them now. `in_hand`
    gives the ones this process's workers still hold in their queues: left to them."""
    with sessions.begin() as session:
        ids = inbox.stale_unprocessed(session, clock(), timedelta(seconds=older_than_seconds))
    if ids:
        held = in_hand()
        ids = [i for i in ids if i not in held]
    for inbox_id in ids:
        process_event(sessions, policy, clock, inbox_id)
    return len(ids)
