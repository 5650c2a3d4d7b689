"""Console pages: login, the workspace (one page for every chat), the audit log. Pages are thin: the
workspace's data comes from /api/v1; the management pages (bot.console.manage, bot.console.staff_pages)
are plain forms.

The menu is a list of entries (`NAV`); another part of the console adds its page with `add_nav`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console import texts, views
from bot.console.auth import (
    ALL_ORGANIZATION_ROLES,
    LOGIN_WINDOW,
    SUPERVISOR_ROLES,
    check_csrf,
    csrf_token,
    current_staff,
    may_read,
)
from bot.security import clean_text
from bot.services import services
from flows.handoff import DISPOSITIONS, REFERRALS
from storage import audit, throttle
from storage import organizations as org_repo
from storage import staff as staff_repo
from storage.models import Consultation, Staff

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")
POLL_MS = 2000


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    endpoint: str
    roles: tuple[str, ...] | None = None  # None: everyone


NAV: list[NavItem] = [
    NavItem("workspace", "相談", "console.queue"),
    NavItem("replies", "定型文", "console.replies"),
    NavItem("labels", "ラベル", "console.labels", SUPERVISOR_ROLES),
    NavItem("stats", "統計", "stats.dashboard", SUPERVISOR_ROLES),
    NavItem("staff", "職員", "console.staff_list", ("admin",)),
    NavItem("audit", "監査ログ", "console.audit_log", ("admin",)),
    NavItem("orgs", "参加団体", "console_orgs.index", ("admin",)),
    NavItem("account", "パスワード変更", "console.account"),
]


def add_nav(item: NavItem) -> None:
    """A menu entry for a page another part of the console adds (e.g. organizations, dead letters)."""
    if all(existing.key != item.key for existing in NAV):
        NAV.insert(len(NAV) - 1, item)


@bp.app_context_processor
def _context() -> dict[str, Any]:
    def nav_items(staff: Staff) -> list[NavItem]:
        return [i for i in NAV if i.roles is None or staff.role in i.roles]

    return {"csrf_token": csrf_token, "nav_items": nav_items, "role_labels": texts.ROLE_LABELS}


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    if request.method == "GET":
        return render_template("login.html", error=None)
    check_csrf()
    svc = services()
    settings = svc.settings
    now = svc.clock()
    login_name = clean_text(request.form.get("login", ""), 80).strip()
    password = request.form.get("password", "")[:1024]  # argon2 of a megabyte is a denial of service
    ip = request.remote_addr or "unknown"
    account_key, address_key = f"login:{login_name.lower()}", f"ip:{ip}"

    def backoff(n: int) -> float:
        return min(2 ** (n - 1), settings.login_backoff_max_seconds)

    # Count the attempt first, atomically and committed at once: parallel attempts cannot slip past.
    with svc.sessions.begin() as db:
        verdict = throttle.attempt(db, account_key, now, window=LOGIN_WINDOW, free=settings.login_free_attempts,
                                   backoff=backoff)
        if verdict.allowed:
            verdict = throttle.attempt(db, address_key, now, window=LOGIN_WINDOW,
                                       free=settings.login_address_limit, backoff=backoff)
        if not verdict.allowed:
            audit.record(db, None, "login_throttled", now, ip=ip)
    if not verdict.allowed:
        page = render_template("login.html", error=texts.LOGIN_WAIT.format(seconds=verdict.retry_after))
        return page, 429, {"Retry-After": str(verdict.retry_after)}
    with svc.sessions.begin() as db:
        staff = staff_repo.by_login(db, login_name) if login_name else None
        # An unknown login is checked against a dummy hash: the answer takes as long as for a real one.
        if not staff_repo.check_password(staff, password):
            audit.record(db, staff.id if staff else None, "login_failed", now, ip=ip,
                         detail=None if staff else "unknown login")
            return render_template("login.html", error=texts.LOGIN_WRONG), 401
        throttle.forgive(db, account_key)
        throttle.give_back(db, address_key)
        staff.last_login_at = now
        token = staff_repo.start_session(db, staff, now)
        audit.record(db, staff.id, "login", now, ip=ip)
    start_browser_session(token)
    return redirect(url_for("console.queue"))


def start_browser_session(token: str) -> None:
    session.clear()  # a new session (and CSRF token) at login
    session.permanent = True
    session["sid"] = token


@bp.post("/logout")
def logout():  # noqa: ANN201
    check_csrf()
    svc = services()
    now = svc.clock()
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        with svc.sessions.begin() as db:
            staff_id = staff_repo.end_session(db, sid, now)
            if staff_id is not None:
                # Logging out ends this staff member's sessions everywhere (other browsers too).
                staff_repo.end_sessions(db, staff_id, now, "logout")
                audit.record(db, staff_id, "logout", now, ip=request.remote_addr)
    session.clear()
    return redirect(url_for("console.login"))


def page_unit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A page's unit of work: one session, one clock reading, the signed-in staff member (else the login
    page). Changes (POST) need the CSRF token, checked by `current_staff`."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        svc = services()
        now = svc.clock()
        with svc.sessions.begin() as db:
            staff = current_staff(db, now)
            if staff is None:
                return redirect(url_for("console.login"))
            result = fn(db, staff, now, *args, **kwargs)
        if request.method == "POST":
            svc.sender.kick()  # after commit: anything a change wrote to the outbox goes out now
        return result

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _workspace(db: Session, staff: Staff, cid: int | None) -> str:
    members = [o for o in org_repo.all_organizations(db) if o.active and not o.is_default]  # issue 10
    return render_template("workspace.html", staff=staff, cid=cid, dispositions=DISPOSITIONS, referrals=REFERRALS,
                           members=members, poll_ms=POLL_MS, supervisor=staff.role in SUPERVISOR_ROLES,
                           all_organizations=staff.role in ALL_ORGANIZATION_ROLES)


@bp.get("/")
@page_unit
def queue(db: Session, staff: Staff, now: Any):  # noqa: ANN201
    """The workspace: the queue and my chats, the conversation, its details."""
    return _workspace(db, staff, None)


@bp.get("/c/<int:cid>")
@page_unit
def chat(db: Session, staff: Staff, now: Any, cid: int):  # noqa: ANN201
    """The workspace with one consultation open (the same page; the address can be bookmarked)."""
    c = db.get(Consultation, cid)
    if c is None:
        abort(404)
    if not may_read(staff, c, now):
        abort(403)
    return _workspace(db, staff, cid)


@bp.get("/audit")
@page_unit
def audit_log(db: Session, staff: Staff, now: Any):  # noqa: ANN201
    """The audit log for admins: in JST, Japanese action names, filtered by staff, consultation and action."""
    if staff.role != "admin":
        abort(403)
    args = request.args
    errors: dict[str, str] = {}
    staff_id = _int_or_none(args.get("staff", ""), "staff", errors)
    cid = _int_or_none(args.get("consultation", ""), "consultation", errors)
    action = args.get("action", "")
    if action and action not in texts.ACTION_LABELS:
        errors["action"] = "操作を一覧から選んでください。"
        action = ""
    number = _int_or_none(args.get("page", ""), "page", errors) or 1
    where = audit.Filter(staff_id=staff_id, consultation_id=cid, action=action or None)
    found = audit.page(db, where, number)
    clock = views.Clock(now, services().settings.service_timezone)
    people = list(db.scalars(select(Staff).order_by(Staff.login)))
    query = {k: v for k, v in {"staff": staff_id, "consultation": cid, "action": action}.items() if v}
    return render_template("audit.html", staff=staff, page=found, clock=clock, people=people, query=query,
                           errors=errors, actions=texts.ACTION_LABELS, action_label=texts.action_label)


def _int_or_none(raw: str, name: str, errors: dict[str, str]) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        errors[name] = "数字で入力してください。"
        return None
    return int(raw)
