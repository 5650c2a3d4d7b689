"""/api/v1: the JSON API the console pages use, for integrations too. Same permissions everywhere."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy.orm import Session

from bot.console import views
from bot.console.auth import current_staff, may_see
from bot.services import services
from flows import alerts, handoff
from storage import audit
from storage import consultations as consultation_repo
from storage.models import Consultation, Note, Staff

bp = Blueprint("api", __name__, url_prefix="/api/v1")
_STATUS = {"conflict": 409, "limit": 409, "invalid": 400, "state": 409}


def _unit(fn):  # noqa: ANN001, ANN202
    """One session and one clock reading per request; the staff member resolved first."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        svc = services()
        now = svc.clock()
        with svc.sessions.begin() as db:
            staff = current_staff(db)
            if staff is None:
                return jsonify(error="authentication required"), 401
            try:
                result = fn(db, staff, now, *args, **kwargs)
            except handoff.HandoffError as exc:
                db.rollback()
                return jsonify(error=str(exc), code=exc.code), _STATUS[exc.code]
        svc.sender.kick()  # after commit: anything written to the outbox goes out now
        return result

    wrapper.__name__ = fn.__name__
    return wrapper


def _consultation(db: Session, staff: Staff, cid: int) -> Consultation:
    c = db.get(Consultation, cid)
    if c is None:
        abort(404)
    if not may_see(staff, c):
        abort(403)
    return c


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, "JSON object expected")
    return data


@bp.get("/queue")
@_unit
def queue(db: Session, staff: Staff, now) -> Response:  # noqa: ANN001
    orgs = None if staff.role == "admin" else [staff.organization_id]
    items = [views.summary(db, c, now) for c in consultation_repo.queue(db, orgs)]
    mine = [views.summary(db, c, now) for c in db.query(Consultation)
            .filter(Consultation.state == "active", Consultation.counselor_id == staff.id).order_by(Consultation.id)]
    return jsonify(queue=items, mine=mine)


@bp.get("/alerts")
@_unit
def crisis_alerts(db: Session, staff: Staff, now) -> Response:  # noqa: ANN001
    """Unclaimed consultations at high or imminent risk that this viewer may see: every console page polls
    this. Polling also stamps the re-alerts that are due (2 minutes unclaimed), on the injected clock."""
    alerts.realert_due(db, now)
    items = [views.alert(db, c, now) for c in alerts.pending(db) if may_see(staff, c)]
    return jsonify(alerts=items)


@bp.get("/consultations/<int:cid>")
@_unit
def consultation(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid)
    audit.record(db, staff.id, "view", now, consultation_id=c.id, ip=request.remote_addr)
    return jsonify(views.detail(db, c, now))


@bp.post("/consultations/<int:cid>/claim")
@_unit
def claim(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    _consultation(db, staff, cid)
    c = handoff.claim(db, staff, cid, now, handoff.Limits(services().settings.counselor_max_active))
    audit.record(db, staff.id, "claim", now, consultation_id=c.id, ip=request.remote_addr)
    return jsonify(views.summary(db, c, now))


@bp.post("/consultations/<int:cid>/messages")
@_unit
def message(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid)
    text = _body().get("text")
    if not isinstance(text, str) or len(text) > 5000:
        abort(400, "text: a string of at most 5000 characters")
    handoff.counselor_message(db, staff, c, text, now)
    audit.record(db, staff.id, "message", now, consultation_id=c.id, ip=request.remote_addr)
    return jsonify(ok=True), 201


@bp.post("/consultations/<int:cid>/notes")
@_unit
def note(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid)
    text = _body().get("text")
    if not isinstance(text, str) or not text.strip():
        abort(400, "text required")
    db.add(Note(consultation_id=c.id, staff_id=staff.id, text=text.strip()[:5000], created_at=now))
    audit.record(db, staff.id, "note", now, consultation_id=c.id, ip=request.remote_addr)
    return jsonify(ok=True), 201


@bp.post("/consultations/<int:cid>/close")
@_unit
def close(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid)
    body = _body()
    if c.counselor_id != staff.id and staff.role == "counselor":
        abort(403)
    handoff.close(db, staff, c, str(body.get("disposition", "")), body.get("referral"), now)
    audit.record(db, staff.id, "close", now, consultation_id=c.id, detail=c.disposition, ip=request.remote_addr)
    return jsonify(views.summary(db, c, now))


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(404)
def _error(exc) -> tuple[Response, int]:  # noqa: ANN001
    return jsonify(error=getattr(exc, "description", "error")), exc.code


@bp.post("/consultations/<int:cid>/transfer")
@_unit
def transfer(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid)
    body = _body()
    from storage import staff as staff_repo

    to = staff_repo.by_login(db, str(body.get("to", "")))
    if to is None or to.id == staff.id:
        abort(400, "to: the login of another active staff member")
    if not may_see(to, c):
        abort(403)
    note = body.get("note")
    handoff.transfer(db, staff, c, to, note if isinstance(note, str) else None, now)
    audit.record(db, staff.id, "transfer", now, consultation_id=c.id, detail=f"to {to.login}", ip=request.remote_addr)
    return jsonify(views.summary(db, c, now))


@bp.get("/canned")
@_unit
def canned(db: Session, staff: Staff, now) -> Response:  # noqa: ANN001
    from storage.canned import for_organization

    return jsonify(canned=[{"id": r.id, "title": r.title, "text": r.text}
                           for r in for_organization(db, staff.organization_id)])


@bp.post("/canned")
@_unit
def add_canned(db: Session, staff: Staff, now) -> Response:  # noqa: ANN001
    if staff.role not in ("coordinator", "admin"):
        abort(403)
    body = _body()
    title, text = body.get("title"), body.get("text")
    if not (isinstance(title, str) and title.strip() and isinstance(text, str) and text.strip()):
        abort(400, "title and text required")
    from storage.models import CannedReply

    db.add(CannedReply(organization_id=staff.organization_id, title=title.strip()[:80], text=text.strip()[:5000],
                       created_at=now))
    audit.record(db, staff.id, "canned_add", now, ip=request.remote_addr)
    return jsonify(ok=True), 201
