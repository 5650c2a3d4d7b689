"""Console pages: login, the queue, one consultation. Pages are thin: their data comes from /api/v1."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for

from bot.console.auth import LOGIN_LIMIT, LOGIN_WINDOW, check_csrf, csrf_token, current_staff, may_see
from bot.services import services
from flows.handoff import DISPOSITIONS, REFERRALS
from storage import audit
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
    now = svc.clock()
    login_name = request.form.get("login", "")[:80]
    keys = [f"login:{login_name}", f"ip:{request.remote_addr}"]
    with svc.sessions.begin() as db:
        if any(staff_repo.too_many_failures(db, k, now, LOGIN_WINDOW, LOGIN_LIMIT) for k in keys):
            return render_template("login.html", error="ログインの失敗が続いたため、しばらくお待ちください。"), 429
        staff = staff_repo.by_login(db, login_name)
        if staff is None or not staff_repo.check_password(staff, request.form.get("password", "")):
            for k in keys:
                staff_repo.record_failure(db, k, now, LOGIN_WINDOW)
            return render_template("login.html", error="ログインIDかパスワードが違います。"), 401
        staff.last_login_at = now
        audit.record(db, staff.id, "login", now, ip=request.remote_addr)
        staff_id = staff.id
    session.clear()
    session["staff_id"] = staff_id
    return redirect(url_for("console.queue"))


@bp.post("/logout")
def logout():  # noqa: ANN201
    check_csrf()
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
        return render_template("chat.html", staff=staff, cid=cid, dispositions=DISPOSITIONS, referrals=REFERRALS)


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
