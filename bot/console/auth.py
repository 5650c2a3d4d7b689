"""Who is asking: a console session (cookie + CSRF token for changes) or a personal bearer token.

The cookie holds only a random session token (and the CSRF token); the session itself is a row
(storage.models.StaffSession), so logout, disabling an account and a password change end it at once,
and idle and absolute lifetimes are checked on every request.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from flask import abort, g, request, session
from sqlalchemy.orm import Session

from bot.services import services
from storage import staff as staff_repo
from storage import throttle, visibility
from storage import workspace as workspace_repo
from storage.models import Consultation, Staff

LOGIN_WINDOW = timedelta(minutes=15)
API_WINDOW = timedelta(minutes=1)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get("csrf", "")
    if not sent or not isinstance(expected, str) or not expected or not _same(sent, expected):
        abort(400, "CSRF token missing or wrong")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return None


def current_staff(db: Session, now: datetime | None = None) -> Staff | None:
    """The bearer token wins; otherwise the session. State changes on a session need the CSRF token."""
    svc = services()
    now = now or svc.clock()
    token = bearer_token()
    if token is not None:
        found = staff_repo.by_token(db, token, now)
        if found is None:
            return None
        staff, row = found
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= 60:
            row.last_used_at = now
        g.api_token_id = row.id
        return staff
    sid = session.get("sid")
    if not isinstance(sid, str) or not sid:
        return None
    s = svc.settings
    staff = staff_repo.session_staff(db, sid, now, idle=timedelta(minutes=s.session_idle_minutes),
                                     absolute=timedelta(hours=s.session_max_hours))
    if staff is None:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf()
    g.via_session = True
    return staff


def api_rate_limit(now: datetime) -> int | None:
    """Count this request against its API token's budget; the seconds to wait when over, else None.

    Counted in a short transaction of its own (committed even when the request fails) and only for
    tokens that exist, so made-up tokens cannot fill the table."""
    token = bearer_token()
    if token is None:
        return None
    svc = services()
    with svc.sessions.begin() as db:
        found = staff_repo.by_token(db, token, now)
        if found is None:
            return None
        verdict = throttle.count(db, f"api:{found[1].id}", now, window=API_WINDOW,
                                 limit=svc.settings.api_rate_limit)
    return None if verdict.allowed else verdict.retry_after


def may_see(staff: Staff, c: Consultation, now: datetime | None = None) -> bool:
    """The one visibility rule (storage/visibility.py, issue 10) for one consultation, in its session."""
    db = Session.object_session(c)
    assert db is not None, "the consultation must be loaded in a session"
    return visibility.may_see(db, staff, c, now or services().clock())


# --- visibility, as every console route and the workspace stream use it --------------------------------
# The rule is storage/visibility.py (`may_see` above for one consultation, `visible_filter` in SQL); the
# functions below are thin wrappers that only ever narrow what it allows, so a change to it applies to
# every page, endpoint and the stream.

SUPERVISOR_ROLES = ("coordinator", "consortium", "admin")
ALL_ORGANIZATION_ROLES = visibility.ALL_SEEING_ROLES


def visible_queue(db: Session, staff: Staff, now: datetime) -> list[Consultation]:
    """The waiting consultations this staff member may see, in the fair order."""
    return visibility.visible_queue(db, staff, now)


def my_chats(db: Session, staff: Staff, now: datetime) -> list[Consultation]:
    """The consultations this staff member holds."""
    return workspace_repo.active_of(db, staff.id, visibility.visible_filter(staff, now))


def may_supervise(staff: Staff, c: Consultation, now: datetime) -> bool:
    """Coordinators watch their own organization's live chats; the consortium role and admins every
    member's (all within what the rule lets them see)."""
    if staff.role in ALL_ORGANIZATION_ROLES:
        return may_see(staff, c, now)
    return staff.role == "coordinator" and c.organization_id == staff.organization_id and may_see(staff, c, now)


def may_read(staff: Staff, c: Consultation, now: datetime) -> bool:
    """Open a consultation at all: as a counselor may, or as a supervisor watching it."""
    return may_see(staff, c, now) or may_supervise(staff, c, now)


def supervised(db: Session, staff: Staff, now: datetime) -> list[Consultation]:
    """Every live (waiting or active) consultation this staff member may watch as a supervisor."""
    if staff.role not in SUPERVISOR_ROLES:
        return []
    orgs = None if staff.role in ALL_ORGANIZATION_ROLES else [staff.organization_id]
    return workspace_repo.live(db, orgs, visibility.visible_filter(staff, now))
