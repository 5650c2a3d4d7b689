"""Repository: staff accounts, passwords (argon2), console sessions and personal API tokens.

Only hashes of secrets are stored: argon2 for passwords, SHA-256 for random session and API tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import ApiToken, Organization, Staff, StaffSession

ROLES = ("counselor", "coordinator", "consortium", "admin")
PASSWORD_MIN = 12
PASSWORD_MAX = 200
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked for unknown logins, so they cost the same time as a known one."""
    return _hasher.hash(secrets.token_urlsafe(16))


@cache
def _common_passwords() -> frozenset[str]:
    lines = (Path(__file__).with_name("common_passwords.txt")).read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_problem_code(password: str) -> str | None:
    """Why a password is refused, as a code (short, long, common), or None."""
    if len(password) < PASSWORD_MIN:
        return "short"
    if len(password) > PASSWORD_MAX:
        return "long"
    lowered = password.lower()
    core = re.sub(r"[\d\W_]+$", "", lowered)
    common = _common_passwords()
    if lowered in common or core in common or len(set(lowered)) <= 3:
        return "common"
    return None


def password_problem(password: str, login: str = "") -> str | None:
    """Why a password is refused, or None. At least 12 characters and not a common one (or a variant)."""
    return {"short": f"password must be at least {PASSWORD_MIN} characters",
            "long": f"password must be at most {PASSWORD_MAX} characters",
            "common": "password is too common; choose a longer phrase of your own",
            None: None}[password_problem_code(password)]


def create(session: Session, login: str, password: str, role: str, organization: Organization, now: datetime,
           display_name: str | None = None) -> Staff:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    problem = password_problem(password, login)
    if problem:
        raise ValueError(problem)
    staff = Staff(login=login, display_name=display_name or login, role=role, organization_id=organization.id,
                  password_hash=_hasher.hash(password), created_at=now)
    session.add(staff)
    session.flush()
    return staff


def by_login(session: Session, login: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.login == login, Staff.active.is_(True)))


def check_password(staff: Staff | None, password: str) -> bool:
    """Verify a password; with `staff` None (an unknown login) a dummy hash is checked, in the same time."""
    try:
        if staff is None:
            _hasher.verify(_dummy_hash(), password)
            return False
        return _hasher.verify(staff.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(session: Session, staff: Staff, password: str, now: datetime) -> None:
    """A new password ends every console session of this staff member."""
    problem = password_problem(password, staff.login)
    if problem:
        raise ValueError(problem)
    staff.password_hash = _hasher.hash(password)
    end_sessions(session, staff.id, now, "password")


def disable(session: Session, staff: Staff, now: datetime) -> None:
    """A disabled account: every session ends and every token is revoked, at once."""
    staff.active = False
    end_sessions(session, staff.id, now, "disabled")
    session.execute(update(ApiToken).where(ApiToken.staff_id == staff.id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=now))


def enable(session: Session, staff: Staff) -> None:
    staff.active = True


def revoke_tokens(session: Session, staff_id: int, now: datetime) -> int:
    """Revoke every live API token of a staff member; returns how many."""
    result = session.execute(update(ApiToken).where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None))
                             .values(revoked_at=now))
    return result.rowcount


def everyone(session: Session) -> list[Staff]:
    """Every account, disabled ones too (for admins), by organization and login."""
    return list(session.scalars(select(Staff).order_by(Staff.active.desc(), Staff.organization_id, Staff.login)))


def login_taken(session: Session, login: str) -> bool:
    """Any account with this login, disabled ones too (logins are never reused)."""
    return session.scalar(select(Staff.id).where(Staff.login == login)) is not None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# --- console sessions ---------------------------------------------------------------------------


def start_session(session: Session, staff: Staff, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=_hash(token), staff_id=staff.id, created_at=now, last_seen_at=now))
    session.flush()
    return token


def session_staff(session: Session, token: str, now: datetime, *, idle: timedelta,
                  absolute: timedelta) -> Staff | None:
    """The staff member of a live session; an idle or too old session is ended here."""
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == _hash(token)))
    if row is None or row.ended_at is not None:
        return None
    if now - row.last_seen_at > idle or now - row.created_at > absolute:
        row.ended_at, row.ended_reason = now, ("idle" if now - row.created_at <= absolute else "expired")
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        return None
    if (now - row.last_seen_at).total_seconds() >= 30:  # not a write on every poll
        row.last_seen_at = now
    return staff


def end_session(session: Session, token: str, now: datetime, reason: str = "logout") -> int | None:
    """End one session; returns its staff id (None when there was no live session)."""
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == _hash(token),
                                                    StaffSession.ended_at.is_(None)))
    if row is None:
        return None
    row.ended_at, row.ended_reason = now, reason
    return row.staff_id


def end_sessions(session: Session, staff_id: int, now: datetime, reason: str) -> int:
    result = session.execute(update(StaffSession)
                             .where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
                             .values(ended_at=now, ended_reason=reason))
    return result.rowcount


def seen_since(session: Session, staff_id: int, since: datetime) -> bool:
    """On duty: a live console session used since `since`, or an API token used since then (issue 10)."""
    in_console = select(StaffSession.id).where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None),
                                               StaffSession.last_seen_at >= since).limit(1)
    by_token = select(ApiToken.id).where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None),
                                         ApiToken.last_used_at >= since).limit(1)
    return session.scalar(in_console) is not None or session.scalar(by_token) is not None


# --- API tokens -----------------------------------------------------------------------------------


def issue_token(staff: Staff, now: datetime, *, days: int = 90, name: str | None = None,
                session: Session | None = None) -> str:
    """A new personal API token; shown once, only its hash is kept. Earlier tokens keep working until
    they expire or are revoked."""
    token = "tsg_" + secrets.token_urlsafe(32)
    row = ApiToken(staff_id=staff.id, token_hash=_hash(token), name=(name or None) and name[:80], created_at=now,
                   expires_at=now + timedelta(days=days))
    db = session or Session.object_session(staff)
    if db is None:
        raise ValueError("the staff member is not in a session")
    db.add(row)
    db.flush()
    return token


def by_token(session: Session, token: str, now: datetime | None = None) -> tuple[Staff, ApiToken] | None:
    """The staff member and token row for a live token (not expired, not revoked, active staff)."""
    if not token or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    if now is not None and row.expires_at <= now:
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        return None
    return staff, row


def tokens_of(session: Session, staff: Staff) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.staff_id == staff.id).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int, now: datetime) -> bool:
    result = session.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                             .values(revoked_at=now))
    return result.rowcount == 1


def purge_sessions(session: Session, now: datetime, older_than: timedelta) -> int:
    """Session rows that can never be used again (ended, or past the absolute lifetime) are dropped."""
    from sqlalchemy import delete

    result = session.execute(delete(StaffSession).where(StaffSession.created_at < now - older_than))
    return result.rowcount
