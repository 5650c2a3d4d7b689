"""Who is asking: a console session (cookie + CSRF token for changes) or a personal bearer token."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import abort, g, request, session
from sqlalchemy.orm import Session

from storage import staff as staff_repo
from storage.models import Consultation, Staff

LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LIMIT = 5  # failures per login and per address within the window


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, "CSRF token missing or wrong")


def current_staff(db: Session) -> Staff | None:
    """The bearer token wins; otherwise the session. State changes on a session need the CSRF token."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return staff_repo.by_token(db, header.removeprefix("Bearer ").strip())
    staff_id = session.get("staff_id")
    if staff_id is None:
        return None
    staff = db.get(Staff, staff_id)
    if staff is None or not staff.active:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf()
    g.via_session = True
    return staff


def may_see(staff: Staff, c: Consultation) -> bool:
    if staff.role == "admin":
        return True
    return c.organization_id == staff.organization_id or c.counselor_id == staff.id
