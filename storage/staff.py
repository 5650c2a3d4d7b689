"""Repository: staff accounts, passwords (argon2) and personal API tokens (only their hash is kept)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import LoginAttempt, Organization, Staff

ROLES = ("counselor", "coordinator", "consortium", "admin")
_hasher = PasswordHasher()


def create(session: Session, login: str, password: str, role: str, organization: Organization, now: datetime,
           display_name: str | None = None) -> Staff:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    staff = Staff(login=login, display_name=display_name or login, role=role, organization_id=organization.id,
                  password_hash=_hasher.hash(password), created_at=now)
    session.add(staff)
    session.flush()
    return staff


def by_login(session: Session, login: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.login == login, Staff.active.is_(True)))


def check_password(staff: Staff, password: str) -> bool:
    try:
        return _hasher.verify(staff.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(staff: Staff) -> str:
    token = "tsg_" + secrets.token_urlsafe(32)
    staff.api_token_hash = _token_hash(token)
    return token


def by_token(session: Session, token: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.api_token_hash == _token_hash(token), Staff.active.is_(True)))


def too_many_failures(session: Session, key: str, now: datetime, window: timedelta, limit: int) -> bool:
    start = _window_start(now, window)
    row = session.scalar(select(LoginAttempt).where(LoginAttempt.key == key, LoginAttempt.window_start == start))
    return row is not None and row.failures >= limit


def record_failure(session: Session, key: str, now: datetime, window: timedelta) -> None:
    start = _window_start(now, window)
    row = session.scalar(select(LoginAttempt).where(LoginAttempt.key == key, LoginAttempt.window_start == start))
    if row is None:
        session.add(LoginAttempt(key=key, window_start=start, failures=1))
    else:
        row.failures += 1
    session.flush()


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)
