"""/api/v1: the JSON API the console pages use, for integrations too. Same permissions everywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from flask import Blueprint, Response, abort, jsonify, request
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator
from sqlalchemy.orm import Session

from bot import line_touches
from bot.console import texts, views
from bot.console.auth import api_rate_limit, current_staff
from bot.security import has_control
from bot.services import services
from flows import alerts, handoff
from storage import audit, visibility
from storage import organizations as org_repo
from storage.models import Consultation, Note, Staff

bp = Blueprint("api", __name__, url_prefix="/api/v1")
_STATUS = {"conflict": 409, "limit": 409, "invalid": 400, "state": 409}
TEXT_MAX = 5000  # a message to the user
NOTE_MAX = 5000  # a counselor's note: refused above this, never silently cut


# --- request bodies: shapes checked before anything acts on them ----------------------------------

class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        if isinstance(value, str) and has_control(value):
            raise ValueError("control characters (such as U+0000) are not allowed")
        return value


class MessageIn(_Body):
    text: Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX)]


class NoteIn(_Body):
    text: Annotated[str, StringConstraints(min_length=1, max_length=NOTE_MAX)]


class CloseIn(_Body):
    disposition: Annotated[str, StringConstraints(max_length=40)]
    referral: Annotated[str, StringConstraints(max_length=40)] | None = None
    referral_org: Annotated[str, StringConstraints(max_length=40)] | None = None  # a member: send its card


class TransferIn(_Body):
    to: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None  # a colleague's login
    to_organization: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None  # a member
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class CannedIn(_Body):
    title: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX)]


B = TypeVar("B", bound=_Body)


def _parse(model: type[B]) -> B:
    """The body as `model`, or a 400 naming the fields (never echoing what was sent)."""
    data = _body()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        abort(400, fields[:500])


def _unit(fn):  # noqa: ANN001, ANN202
    """One session and one clock reading per request; the staff member resolved first."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        svc = services()
        now = svc.clock()
        wait = api_rate_limit(now)
        if wait is not None:
            return jsonify(error=texts.RATE_LIMITED, code="rate_limited"), 429, {"Retry-After": str(wait)}
        with svc.sessions.begin() as db:
            staff = current_staff(db, now)
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


def _consultation(db: Session, staff: Staff, cid: int, now: datetime | None = None) -> Consultation:
    """The consultation, if this person may see it (storage/visibility.py: the one rule): else 403.
    `now`: the request's clock reading (read here only for callers that do not pass it)."""
    c = db.get(Consultation, cid)
    if c is None:
        abort(404)
    if not visibility.may_see(db, staff, c, now or services().clock()):
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
    items = [views.summary(db, c, now) for c in visibility.visible_queue(db, staff, now)]
    mine = [views.summary(db, c, now) for c in db.query(Consultation)
            .filter(Consultation.state == "active", Consultation.counselor_id == staff.id).order_by(Consultation.id)]
    return jsonify(queue=items, mine=mine)


@bp.get("/alerts")
@_unit
def crisis_alerts(db: Session, staff: Staff, now) -> Response:  # noqa: ANN001
    """Unclaimed consultations at high or imminent risk that this viewer may see: every console page polls
    this. Polling also stamps the re-alerts that are due (2 minutes unclaimed), on the injected clock."""
    alerts.realert_due(db, now)
    items = [views.alert(db, c, now) for c in alerts.pending(db, visibility.visible_filter(staff, now))]
    return jsonify(alerts=items)


@bp.get("/consultations/<int:cid>")
@_unit
def consultation(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid, now)
    audit.record(db, staff.id, "view", now, consultation_id=c.id, ip=request.remote_addr)
    line_touches.mark_read(services(), db, staff, c)  # its counselor has it open: 既読 on the user's phone
    return jsonify(views.detail(db, c, now))


@bp.post("/consultations/<int:cid>/claim")
@_unit
def claim(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    _consultation(db, staff, cid, now)
    c = handoff.claim(db, staff, cid, now, handoff.Limits(services().settings.counselor_max_active))
    audit.record(db, staff.id, "claim", now, consultation_id=c.id, ip=request.remote_addr)
    return jsonify(views.summary(db, c, now))


@bp.post("/consultations/<int:cid>/messages")
@_unit
def message(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid, now)
    body = _parse(MessageIn)
    handoff.counselor_message(db, staff, c, body.text, now)
    audit.record(db, staff.id, "message", now, consultation_id=c.id, ip=request.remote_addr)
    return jsonify(ok=True), 201


@bp.post("/consultations/<int:cid>/notes")
@_unit
def note(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid, now)
    text = _parse(NoteIn).text.strip()
    if not text:
        abort(400, "text: required")
    db.add(Note(consultation_id=c.id, staff_id=staff.id, text=text, created_at=now))
    audit.record(db, staff.id, "note", now, consultation_id=c.id, ip=request.remote_addr)
    return jsonify(ok=True), 201


@bp.post("/consultations/<int:cid>/close")
@_unit
def close(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid, now)
    body = _parse(CloseIn)
    if c.counselor_id != staff.id and staff.role == "counselor":
        abort(403)
    referral_org = None
    if body.referral_org:
        referral_org = org_repo.by_slug(db, body.referral_org)
        if referral_org is None:
            abort(400, "referral_org: no such member organization")
    handoff.close(db, staff, c, body.disposition, body.referral, now, referral_org=referral_org)
    audit.record(db, staff.id, "close", now, consultation_id=c.id, detail=c.disposition, ip=request.remote_addr)
    return jsonify(views.summary(db, c, now))


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(404)
@bp.errorhandler(405)
@bp.errorhandler(413)
def _error(exc) -> tuple[Response, int]:  # noqa: ANN001
    return jsonify(error=getattr(exc, "description", "error")), exc.code


@bp.post("/consultations/<int:cid>/transfer")
@_unit
def transfer(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    c = _consultation(db, staff, cid, now)
    body = _parse(TransferIn)
    if (body.to is None) == (body.to_organization is None):
        abort(400, "give either to (a colleague's login) or to_organization (a member's slug)")
    if body.to_organization is not None:
        return _transfer_to_member(db, staff, c, body.to_organization, body.note, now)
    from storage import staff as staff_repo

    to = staff_repo.by_login(db, body.to)
    if to is None or to.id == staff.id or not visibility.may_see(db, to, c, now):
        # One answer for unknown logins and for staff who may not see this consultation (another
        # organization): the API does not tell which logins exist elsewhere.
        abort(400, "to: the login of another staff member who can take this consultation")
    limits = handoff.Limits(services().settings.counselor_max_active)
    handoff.transfer(db, staff, c, to, body.note, now, limits)
    audit.record(db, staff.id, "transfer", now, consultation_id=c.id, detail=f"to {to.login}", ip=request.remote_addr)
    return jsonify(views.summary(db, c, now))


def _transfer_to_member(db: Session, staff: Staff, c: Consultation, slug: str, note: str | None,
                       now: datetime) -> Response:
    """Issue 10: hand the consultation to another member's queue, with a note its counselors see."""
    to = org_repo.by_slug(db, slug)
    if to is None:
        abort(400, "to_organization: no such member organization")
    handoff.transfer_to_member(db, staff, c, to, note, now, services().policy.routing.overflow_after)
    audit.record(db, staff.id, "transfer", now, consultation_id=c.id, detail=f"to organization {to.slug}",
                 ip=request.remote_addr)
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
    body = _parse(CannedIn)
    title, text = body.title.strip(), body.text.strip()
    if not (title and text):
        abort(400, "title and text required")
    from storage.models import CannedReply

    db.add(CannedReply(organization_id=staff.organization_id, title=title, text=text, created_at=now))
    audit.record(db, staff.id, "canned_add", now, ip=request.remote_addr)
    return jsonify(ok=True), 201
