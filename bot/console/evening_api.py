"""/api/v1 additions for the evening clock and LINE's touches (issue 10): dead letters for coordinators,
and the counselor's typing (the loading animation on the user's screen). Same authentication, one session
and one clock reading per request (`bot.console.api._unit`)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import line_touches
from bot.console.api import _consultation, _unit
from bot.services import services
from storage import audit
from storage import evening as evening_repo
from storage.models import Client, Message, Staff

bp = Blueprint("evening_api", __name__, url_prefix="/api/v1")
COORDINATING = ("coordinator", "consortium", "admin")


def _coordinating(staff: Staff) -> None:
    if staff.role not in COORDINATING:
        abort(403)


def _scope(staff: Staff) -> int | None:
    """The organization whose dead letters this viewer handles (None: every one)."""
    return None if staff.role in ("consortium", "admin") else staff.organization_id


@bp.app_context_processor
def _texts() -> dict:
    from bot.console import texts

    return {"console_texts": texts}


@bp.get("/dead-letters")
@_unit
def dead_letters(db: Session, staff: Staff, now) -> Response:  # noqa: ANN001
    """Messages LINE never took (failed after the last attempt), raised by the `dead_letters` job and not yet
    acknowledged: coordinators see their organization's, the consortium role and admins every one. Pseudonym,
    consultation and times only; never the text or the LINE ID."""
    _coordinating(staff)
    return jsonify(dead_letters=dead_letter_items(db, staff))


def dead_letter_items(db: Session, staff: Staff) -> list[dict]:
    """The open dead letters this coordinator handles, as the console shows them (also in the workspace's
    stream, `bot.console.stream`)."""
    rows = evening_repo.open_dead_letters(db, _scope(staff))
    pseudonyms = dict(db.execute(select(Client.id, Client.pseudonym)
                                 .where(Client.id.in_({o.client_id for o, _ in rows}))).all()) if rows else {}
    tz = services().policy.hours.tz
    kinds = dict(db.execute(select(Message.outbox_id, Message.kind)
                            .where(Message.outbox_id.in_([o.id for o, _ in rows]))).all()) if rows else {}
    return [{
        "id": o.id, "consultation_id": o.consultation_id, "pseudonym": pseudonyms.get(o.client_id),
        "kind": kinds.get(o.id), "created_at": o.created_at.isoformat(),
        "at": f"{o.created_at.astimezone(tz):%m/%d %H:%M}", "raised_at": o.dead_letter_at.isoformat(),
        "attempts": o.attempts, "reason": _reason(o.last_error), "state": c.state if c else None,
    } for o, c in rows]


def _reason(error: str | None) -> str:
    """Why, in a word or two: LINE's status (its error body may quote a request, so it is not shown)."""
    if not error:
        return "unknown"
    return error.split(":", 1)[0][:40]


@bp.post("/dead-letters/<int:oid>/ack")
@_unit
def acknowledge(db: Session, staff: Staff, now, oid: int) -> Response:  # noqa: ANN001
    _coordinating(staff)
    if not evening_repo.acknowledge_dead_letter(db, oid, staff.id, now, _scope(staff)):
        abort(404)
    audit.record(db, staff.id, "dead_letter_ack", now, detail=f"outbox {oid}", ip=request.remote_addr)
    return jsonify(ok=True)


@bp.post("/consultations/<int:cid>/typing")
@_unit
def typing(db: Session, staff: Staff, now, cid: int) -> Response:  # noqa: ANN001
    """The counselor is writing a reply: LINE's loading animation on the user's screen (at most every 15 s)."""
    c = _consultation(db, staff, cid, now)
    shown = line_touches.show_typing(services(), db, staff, c, now)
    return jsonify(shown=shown), 202
