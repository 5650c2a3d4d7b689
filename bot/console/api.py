"""/api/v1: the JSON API the console pages use, for integrations too. Same permissions everywhere.

Errors are `{"error": "<Japanese message>", "code": …, "field": "<input>", "fields": {input: message}}`, so
the page shows each message next to what caused it. Every consultation is looked up through
`_consultation`, which applies the visibility rule (`bot.console.auth.may_see`, or `may_read` for watching).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from bot import line_touches
from bot.console import replies, stream, texts, views
from bot.console.auth import api_rate_limit, current_staff, may_read, may_see, may_supervise, my_chats, visible_queue
from bot.console.schemas import Body, CannedIn, CloseIn, MessageIn, NoteIn, TransferIn
from bot.services import services
from flows import alerts, handoff
from storage import audit, visibility
from storage import canned as canned_repo
from storage import organizations as org_repo
from storage import workspace as workspace_repo
from storage.models import Consultation, Note, Staff

bp = Blueprint("api", __name__, url_prefix="/api/v1")
_STATUS = {"conflict": 409, "limit": 409, "invalid": 400, "state": 409}
TEXT_MAX = 5000  # a message to the user (see bot.console.schemas)
NOTE_MAX = 5000


class ApiError(Exception):
    """A refusal the console shows next to the input that caused it."""

    def __init__(self, status: int, message: str, *, code: str | None = None, field: str | None = None,
                 fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.fields = fields or ({field: message} if field else {})
        self.field = field or next(iter(self.fields), None)

    def response(self) -> tuple[Response, int]:
        body: dict[str, Any] = {"error": self.message}
        if self.code:
            body["code"] = self.code
        if self.field:
            body["field"], body["fields"] = self.field, self.fields
        return jsonify(body), self.status


B = TypeVar("B", bound=Body)


def parse(model: type[B]) -> B:
    """The body as `model`, or a 400 with a Japanese message per field (never echoing what was sent)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, texts.BAD_JSON, code="invalid")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = texts.validation_messages(exc.errors(include_url=False, include_input=False))
        raise ApiError(400, next(iter(fields.values()), texts.BAD_JSON), code="invalid", fields=fields) from None


class Unit:
    """What one request works with: the session, who asks, and the one clock reading."""

    def __init__(self, db: Session, staff: Staff, now: Any) -> None:
        self.db, self.staff, self.now = db, staff, now
        self.clock = views.Clock(now, services().settings.service_timezone)

    def audit(self, action: str, consultation: Consultation | None = None, detail: str | None = None) -> None:
        audit.record(self.db, self.staff.id, action, self.now, detail=detail, ip=request.remote_addr,
                     consultation_id=consultation.id if consultation else None)

    @property
    def limits(self) -> handoff.Limits:
        return handoff.Limits(services().settings.counselor_max_active)


def unit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One session and one clock reading per request; the staff member resolved first; refusals as JSON."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        svc = services()
        now = svc.clock()
        wait = api_rate_limit(now)
        if wait is not None:
            return jsonify(error=texts.RATE_LIMITED, code="rate_limited"), 429, {"Retry-After": str(wait)}
        try:
            with svc.sessions.begin() as db:
                staff = current_staff(db, now)
                if staff is None:
                    return jsonify(error=texts.LOGIN_REQUIRED, code="login"), 401
                try:
                    result = fn(Unit(db, staff, now), *args, **kwargs)
                except handoff.HandoffError as exc:
                    db.rollback()
                    return ApiError(_STATUS[exc.code], str(exc), code=exc.code, field=exc.field).response()
        except ApiError as exc:
            return exc.response()
        svc.sender.kick()  # after commit: anything written to the outbox goes out now
        return result

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _unit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`unit` for handlers written as fn(db, staff, now, ...) (e.g. bot.console.evening_api)."""
    @functools.wraps(fn)
    def adapted(u: Unit, *args: Any, **kwargs: Any) -> Any:
        return fn(u.db, u.staff, u.now, *args, **kwargs)

    return unit(adapted)


def _consultation(db: Session, staff: Staff, cid: int, now: datetime | None = None) -> Consultation:
    """`consultation` for handlers written as fn(db, staff, now, ...): 404 or 403 unless `may_see`.
    `now`: the request's clock reading (read here only for callers that do not pass it)."""
    c = db.get(Consultation, cid)
    if c is None:
        raise ApiError(404, texts.NOT_FOUND, code="not_found")
    if not may_see(staff, c, now):
        raise ApiError(403, texts.FORBIDDEN, code="forbidden")
    return c


def consultation(u: Unit, cid: int, *, watching: bool = False) -> Consultation:
    """The consultation, if this staff member may see it (or, `watching`, supervise it): else 404/403."""
    c = u.db.get(Consultation, cid)
    if c is None:
        raise ApiError(404, texts.NOT_FOUND, code="not_found")
    allowed = may_read(u.staff, c, u.now) if watching else may_see(u.staff, c, u.now)
    if not allowed:
        raise ApiError(403, texts.FORBIDDEN, code="forbidden")
    return c


# --- lists -----------------------------------------------------------------------------------------


@bp.get("/queue")
@unit
def queue(u: Unit) -> Response:
    items = [views.summary(u.db, c, u.now) for c in visible_queue(u.db, u.staff, u.now)]
    mine = [views.summary(u.db, c, u.now) for c in my_chats(u.db, u.staff, u.now)]
    return jsonify(queue=items, mine=mine)


@bp.get("/alerts")
@unit
def crisis_alerts(u: Unit) -> Response:
    """Unclaimed consultations at high or imminent risk that this viewer may see: every console page polls
    this (the workspace gets the same list in its stream). Polling also stamps the re-alerts that are due
    (2 minutes unclaimed), on the injected clock."""
    return jsonify(alerts=alert_items(u))


def alert_items(u: Unit) -> list[dict[str, Any]]:
    alerts.realert_due(u.db, u.now)
    pending = alerts.pending(u.db, visibility.visible_filter(u.staff, u.now))
    loaded = workspace_repo.preload(u.db, pending)  # noqa: F841  (held while the items are built)
    return [views.alert(u.db, c, u.now) for c in pending]


# --- one consultation ------------------------------------------------------------------------------


@bp.get("/consultations/<int:cid>")
@unit
def consultation_detail(u: Unit, cid: int) -> Response:
    """The whole consultation. Opening it is audited once per viewing ("view"; "watch" for a supervisor
    reading a chat they could not otherwise see, or asking `?watch=1`), not on every refresh."""
    c = consultation(u, cid, watching=True)
    sees = may_see(u.staff, c, u.now)
    watching = not sees or request.args.get("watch") == "1"
    audit.record_view(u.db, u.staff.id, c.id, u.now, action="watch" if watching else "view", ip=request.remote_addr)
    if c.counselor_id == u.staff.id:
        workspace_repo.mark_transfers_seen(u.db, u.staff.id, c.id, u.now)
    line_touches.mark_read(services(), u.db, u.staff, c)  # its counselor has it open: 既読 on the user's phone
    out = views.detail(u.db, c, u.now, clock=u.clock, staff=u.staff, may_see=sees,
                       may_supervise=may_supervise(u.staff, c, u.now))
    out["stamp"] = stream.stamp(u, c)
    return jsonify(out)


@bp.post("/consultations/<int:cid>/claim")
@unit
def claim(u: Unit, cid: int) -> Response:
    consultation(u, cid)
    c = handoff.claim(u.db, u.staff, cid, u.now, u.limits)
    u.audit("claim", c)
    return jsonify(views.summary(u.db, c, u.now))


@bp.post("/consultations/<int:cid>/messages")
@unit
def message(u: Unit, cid: int) -> Response:
    c = consultation(u, cid)
    body = parse(MessageIn)
    if c.state == "closed":
        raise ApiError(409, texts.CLOSED_READ_ONLY, code="state", field="text")
    handoff.counselor_message(u.db, u.staff, c, body.text, u.now)
    u.audit("message", c)
    return jsonify(ok=True), 201


@bp.post("/consultations/<int:cid>/notes")
@unit
def note(u: Unit, cid: int) -> Response:
    c = consultation(u, cid)
    text = parse(NoteIn).text.strip()
    if not text:
        raise ApiError(400, texts.validation_messages([{"type": "missing", "loc": ("text",)}])["text"],
                       code="invalid", field="text")
    if c.state == "closed":
        raise ApiError(409, texts.CLOSED_READ_ONLY, code="state", field="text")
    u.db.add(Note(consultation_id=c.id, staff_id=u.staff.id, text=text, created_at=u.now, kind="counselor"))
    u.audit("note", c)
    return jsonify(ok=True), 201


@bp.post("/consultations/<int:cid>/close")
@unit
def close(u: Unit, cid: int) -> Response:
    c = consultation(u, cid)
    body = parse(CloseIn)
    if c.counselor_id != u.staff.id and u.staff.role == "counselor":
        raise ApiError(403, texts.NOT_YOURS, code="forbidden")
    referral_org = None
    if body.referral_org:  # a member: its referral card goes to the user with the closing words (issue 10)
        referral_org = org_repo.by_slug(u.db, body.referral_org)
        if referral_org is None:
            raise ApiError(400, texts.UNKNOWN_MEMBER, code="invalid", field="referral_org")
    handoff.close(u.db, u.staff, c, body.disposition, body.referral, u.now, referral_org=referral_org)
    u.audit("close", c, detail=c.disposition)
    return jsonify(views.summary(u.db, c, u.now))


@bp.post("/consultations/<int:cid>/transfer")
@unit
def transfer(u: Unit, cid: int) -> Response:
    """Hand a chat I hold to another counselor, with a note they see when they open it. The answer
    confirms who has it now."""
    c = consultation(u, cid)
    body = parse(TransferIn)
    if (body.to is None) == (body.to_organization is None):
        raise ApiError(400, texts.TRANSFER_ONE_TARGET, code="invalid", field="to")
    if body.to_organization is not None:
        return _transfer_to_member(u, c, body.to_organization, body.note)
    from storage import staff as staff_repo

    to = staff_repo.by_login(u.db, body.to.strip())
    if to is None or to.id == u.staff.id or not may_see(to, c, u.now):
        # One answer for unknown logins and for staff who may not see this consultation (another
        # organization): the API does not tell which logins exist elsewhere.
        raise ApiError(400, texts.TRANSFER_TO, code="invalid", field="to")
    handoff.transfer(u.db, u.staff, c, to, (body.note or "").strip() or None, u.now, u.limits)
    u.audit("transfer", c, detail=f"to {to.login}")
    out = views.summary(u.db, c, u.now)
    out["confirmation"] = f"{to.display_name}さんに引き継ぎました。"
    return jsonify(out)


def _transfer_to_member(u: Unit, c: Consultation, slug: str, note: str | None) -> Response:
    """Issue 10: hand the consultation to another member's queue, with a note its counselors see."""
    to = org_repo.by_slug(u.db, slug)
    if to is None:
        raise ApiError(400, texts.UNKNOWN_MEMBER, code="invalid", field="to_organization")
    handoff.transfer_to_member(u.db, u.staff, c, to, (note or "").strip() or None, u.now,
                               services().policy.routing.overflow_after)
    u.audit("transfer", c, detail=f"to organization {to.slug}")
    out = views.summary(u.db, c, u.now)
    out["confirmation"] = f"{to.name}に引き継ぎました。"
    return jsonify(out)


# --- saved replies ---------------------------------------------------------------------------------


def _placeholder_values(u: Unit, c: Consultation | None) -> dict[str, str]:
    values = {"担当者": u.staff.display_name, "受付時間": services().policy.hours.label()}
    if c is not None:
        values |= {"相談者": c.client.pseudonym, "団体": c.organization.name}
    else:
        values["団体"] = u.staff.organization.name
    return values


@bp.get("/canned")
@unit
def canned(u: Unit) -> Response:
    """Saved replies this staff member can insert: their own, their organization's and the consortium's.
    With `?consultation=ID` each also comes `rendered`, its placeholders filled in for that chat."""
    c = None
    raw = request.args.get("consultation", "")
    if raw:
        if not raw.isdigit() or len(raw) > 10:
            raise ApiError(404, texts.NOT_FOUND, code="not_found")
        c = consultation(u, int(raw))
    values = _placeholder_values(u, c)
    return jsonify(canned=[{"id": r.id, "title": r.title, "text": r.text, "scope": canned_repo.scope_of(r),
                            "rendered": replies.render(r.text, values)}
                           for r in canned_repo.available_to(u.db, u.staff)],
                   placeholders=replies.PLACEHOLDERS)


@bp.post("/canned")
@unit
def add_canned(u: Unit) -> Response:
    """Add a saved reply: `scope` organization (the default; coordinators and admins) or personal (anyone)."""
    body = parse(CannedIn)
    title, text = body.title.strip(), body.text.strip()
    if not title or not text:
        raise ApiError(400, texts.CANNED_REQUIRED, code="invalid", field="title" if not title else "text")
    if body.scope == "organization" and u.staff.role not in ("coordinator", "consortium", "admin"):
        raise ApiError(403, texts.FORBIDDEN, code="forbidden", field="scope")
    unknown = replies.unknown_placeholders(text)
    if unknown:
        raise ApiError(400, unknown_placeholder_message(unknown), code="invalid", field="text")
    canned_repo.add(u.db, title=title, text=text, now=u.now, organization_id=u.staff.organization_id,
                    staff_id=u.staff.id if body.scope == "personal" else None)
    u.audit("canned_add", detail=body.scope)
    return jsonify(ok=True), 201


def unknown_placeholder_message(unknown: list[str]) -> str:
    known = "、".join("{" + k + "}" for k in replies.PLACEHOLDERS)
    return f"使えない差し込みがあります：{'、'.join('{' + n + '}' for n in unknown)}（使えるのは {known}）"


# --- errors as JSON, in Japanese -------------------------------------------------------------------

_HTTP_TEXTS = {400: texts.BAD_JSON, 401: texts.LOGIN_REQUIRED, 403: texts.FORBIDDEN, 404: texts.NOT_FOUND,
               405: texts.METHOD, 413: texts.TOO_LARGE}


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[Response, int]:
    return exc.response()


@bp.errorhandler(400)
@bp.errorhandler(401)
@bp.errorhandler(403)
@bp.errorhandler(404)
@bp.errorhandler(405)
@bp.errorhandler(413)
def _error(exc: HTTPException) -> tuple[Response, int]:
    code = exc.code or 400
    message = texts.CSRF if "CSRF" in str(getattr(exc, "description", "")) else _HTTP_TEXTS.get(code, texts.BAD_JSON)
    return jsonify(error=message), code
