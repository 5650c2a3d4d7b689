"""LINE-native touches while a counselor works (issue 10): the loading animation while they type, and the
user's messages shown as read when they open the chat.

Neither is a message, so neither goes through the outbox: each is one best-effort call made right after
the request's transaction commits (the stamp or the consumed token that allows it is committed first, so
two console tabs or processes make the call once). A refusal is logged by its status only, never with
the LINE user ID.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

from bot.line_client import ACCEPTED, LineGateway
from bot.services import Services
from storage import evening as repo
from storage.models import Consultation, Staff

log = logging.getLogger(__name__)

LOADING_SECONDS = 20  # LINE shows it until a message arrives or this many seconds pass (5-60, steps of 5)
LOADING_EVERY = timedelta(seconds=15)  # at most one call per consultation this often, while typing goes on


def after_commit(session: Session, fn) -> None:  # noqa: ANN001
    """Run `fn()` once this unit of work has committed (never if it rolls back)."""
    event.listen(session, "after_commit", lambda _s: fn(), once=True)


def _reachable(c: Consultation) -> str | None:
    client = c.client
    return None if client.blocked_at is not None else client.line_user_id


def show_typing(svc: Services, session: Session, staff: Staff, c: Consultation, now: datetime) -> bool:
    """The counselor of an active chat is typing: the loading animation on the user's screen (throttled)."""
    if c.state != "active" or c.counselor_id != staff.id:
        return False
    user_id = _reachable(c)
    if user_id is None or not repo.stamp_loading(session, c.id, now, LOADING_EVERY):
        return False
    gateway = svc.gateway
    after_commit(session, lambda: _report("loading", c.id, gateway.show_loading(user_id, LOADING_SECONDS)))
    return True


def mark_read(svc: Services, session: Session, staff: Staff, c: Consultation) -> bool:
    """The counselor of an active chat has it open: the user's messages so far show as read (既読).
    LINE_MARK_AS_READ=token uses the token of the user's latest message (any channel); chat marks by the
    user's ID (only channels LINE allowed to); off does neither."""
    mode = svc.settings.line_mark_as_read
    if mode == "off" or c.state != "active" or c.counselor_id != staff.id:
        return False
    token = repo.take_read_token(session, c.id)  # a new message since the last time, taken once
    if token is None:
        return False
    gateway: LineGateway = svc.gateway
    if mode == "chat":
        user_id = _reachable(c)
        if user_id is None:
            return False
        after_commit(session, lambda: _report("read", c.id, gateway.mark_read_by_user(user_id)))
    else:
        after_commit(session, lambda: _report("read", c.id, gateway.mark_read(token)))
    return True


def _report(what: str, consultation_id: int, result) -> None:  # noqa: ANN001
    if result.outcome != ACCEPTED:
        log.warning("%s for consultation %s not shown: %s", what, consultation_id, result.status or result.outcome)
