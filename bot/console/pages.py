"""Console pages: login, the queue, one consultation. Pages are thin: their data comes from /api/v1."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for

from bot.console import texts
from bot.console.auth import LOGIN_WINDOW, check_csrf, csrf_token, current_staff, may_see
from bot.security import clean_text
from bot.services import services
from flows.handoff import DISPOSITIONS, REFERRALS
from storage import audit, throttle
from storage import organizations as org_repo
from storage import staff as staff_repo
from storage.models import Consultation

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")


@bp.app_context_processor
def _csrf() -> dict:
    return {"csrf_token": csrf_token}


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
    session.clear()  # a new session (and CSRF token) at login
    session.permanent = True
    session["sid"] = token
    return redirect(url_for("console.queue"))


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


def _staff_or_login():  # noqa: ANN202
    svc = services()
    with svc.sessions() as db:
        staff = current_staff(db)
        if staff is not None:
            db.expunge(staff)
        return staff


@bp.get("/")
def queue():  # noqa: ANN201
    staff = _staff_or_login()
    if staff is None:
        return redirect(url_for("console.login"))
    return render_template("queue.html", staff=staff)


@bp.get("/c/<int:cid>")
def chat(cid: int):  # noqa: ANN201
    svc = services()
    with svc.sessions() as db:
        staff = current_staff(db)
        if staff is None:
            return redirect(url_for("console.login"))
        c = db.get(Consultation, cid)
        if c is None:
            abort(404)
        if not may_see(staff, c):
            abort(403)
        members = [o for o in org_repo.all_organizations(db) if o.active and not o.is_default]  # issue 10
        return render_template("chat.html", staff=staff, cid=cid, dispositions=DISPOSITIONS, referrals=REFERRALS,
                               members=members)


@bp.get("/audit")
def audit_log():  # noqa: ANN201
    svc = services()
    with svc.sessions() as db:
        staff = current_staff(db)
        if staff is None:
            return redirect(url_for("console.login"))
        if staff.role != "admin":
            abort(403)
        return render_template("audit.html", staff=staff, events=audit.recent(db))
