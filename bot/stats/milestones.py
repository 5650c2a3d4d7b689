"""Client milestones: counselors record a step a client took (codes and a date, never free text).

`POST /api/v1/consultations/ID/milestones` {"kind", "occurred_on" (YYYY-MM-DD, default today), "next_step"}
and `GET` the client's milestones; the chat page has a small form posting to
`/console/c/ID/milestones`. Anyone who may see the consultation may record one; each is audited.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, jsonify, redirect, request, url_for
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest

from bot.console.auth import current_staff, may_see
from bot.services import services
from bot.stats import labels
from storage import audit
from storage import milestones as milestone_repo
from storage.models import Consultation, Staff

api_bp = Blueprint("stats_api", __name__, url_prefix="/api/v1")
page_bp = Blueprint("stats_pages", __name__, url_prefix="/console", template_folder="templates")


@page_bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {"milestone_labels": labels.MILESTONE_LABELS, "next_step_labels": labels.NEXT_STEP_LABELS}


def _record(db: Session, staff: Staff, cid: int, body: dict[str, Any], now: datetime) -> Consultation:
    c = db.get(Consultation, cid)
    if c is None:
        abort(404)
    if not may_see(staff, c, now):
        abort(403)
    zone = ZoneInfo(services().settings.service_timezone)
    today = now.astimezone(zone).date()
    raw = body.get("occurred_on") or today.isoformat()
    try:
        occurred = date.fromisoformat(str(raw))
    except ValueError:
        _refuse("occurred_on")
    if occurred > today or occurred.year < 2000:
        _refuse("occurred_on")
    step = body.get("next_step") or None
    try:
        m = milestone_repo.record(db, c, str(body.get("kind", "")), occurred, now, staff_id=staff.id,
                                  next_step=str(step) if step else None)
    except milestone_repo.MilestoneError as exc:
        _refuse(exc.field)
    audit.record(db, staff.id, "milestone", now, consultation_id=c.id, detail=m.kind, ip=request.remote_addr)
    return c


@api_bp.post("/consultations/<int:cid>/milestones")
def add(cid: int):  # noqa: ANN201
    svc = services()
    now = svc.clock()
    with svc.sessions.begin() as db:
        staff = current_staff(db)
        if staff is None:
            return jsonify(error="authentication required"), 401
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            _refuse("body")
        _record(db, staff, cid, body, now)
    return jsonify(ok=True), 201


@api_bp.get("/consultations/<int:cid>/milestones")
def list_for(cid: int):  # noqa: ANN201
    svc = services()
    with svc.sessions() as db:
        staff = current_staff(db)
        if staff is None:
            return jsonify(error="authentication required"), 401
        c = db.get(Consultation, cid)
        if c is None:
            abort(404)
        if not may_see(staff, c):
            abort(403)
        return jsonify(milestones=[{"kind": m.kind, "label": labels.MILESTONE_LABELS[m.kind], "next_step": m.next_step,
                                    "occurred_on": m.occurred_on.isoformat()}
                                   for m in milestone_repo.for_client(db, c.client_id)])


@page_bp.post("/c/<int:cid>/milestones")
def add_from_page(cid: int):  # noqa: ANN201
    svc = services()
    now = svc.clock()
    with svc.sessions.begin() as db:
        staff = current_staff(db)  # checks the CSRF token of the form
        if staff is None:
            return redirect(url_for("console.login"))
        _record(db, staff, cid, request.form.to_dict(), now)
    return redirect(url_for("console.chat", cid=cid, milestone="recorded"))


class _Refused(BadRequest):
    """A milestone refused because of one input: the answer names it, in Japanese."""

    def __init__(self, field: str) -> None:
        super().__init__(labels.MILESTONE_ERRORS[field])
        self.field = field


def _refuse(field: str) -> NoReturn:
    raise _Refused(field)


@api_bp.errorhandler(400)
@api_bp.errorhandler(403)
@api_bp.errorhandler(404)
def _error(exc: Any):  # noqa: ANN202
    if isinstance(exc, _Refused):
        return jsonify(error=exc.description, field=exc.field, fields={exc.field: exc.description}), 400
    from bot.console import texts

    message = {403: texts.FORBIDDEN, 404: texts.NOT_FOUND}.get(exc.code)
    if message is None:
        message = texts.CSRF if "CSRF" in str(getattr(exc, "description", "")) else texts.BAD_JSON
    return jsonify(error=message), exc.code
