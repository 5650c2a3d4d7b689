"""/api/v1 for the workspace (issue 12): the live stream, read marks, reopening, labels, and what
supervisors do (a note only staff see, taking a chat over). Each consultation goes through
`api.consultation`, i.e. the visibility rule of `bot.console.auth`."""

from __future__ import annotations

from flask import Response, jsonify, request

from bot.console import stream, texts, views
from bot.console.api import ApiError, Unit, alert_items, bp, consultation, parse, unit
from bot.console.auth import may_see, may_supervise
from bot.console.schemas import LabelIn, NoteIn, ReadIn, ReopenIn
from flows import handoff
from storage import labels as label_repo
from storage import workspace as workspace_repo
from storage.models import Label, Note

_MAX_ID = 2**31 - 1


def _int_arg(name: str) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return 0
    if not raw.isdigit() or len(raw) > 10 or int(raw) > _MAX_ID:
        raise ApiError(400, texts.BAD_JSON, code="invalid", field=name)
    return int(raw)


@bp.get("/workspace")
@unit
def workspace(u: Unit) -> Response:
    """The stream: `?v=VERSION&chat=ID&after=MESSAGE_ID&notes_after=NOTE_ID&watch=1` (all optional)."""
    chat_id = _int_arg("chat") or None
    cursor = stream.Cursor(list_version=request.args.get("v", "")[:64], chat_id=chat_id,
                           after=_int_arg("after"), notes_after=_int_arg("notes_after"),
                           watch=request.args.get("watch") == "1")
    return jsonify(stream.snapshot(u, cursor, alert_items(u)))


@bp.post("/consultations/<int:cid>/read")
@unit
def read(u: Unit, cid: int) -> Response:
    """I have read this chat up to `message_id` (the read mark only moves forward)."""
    c = consultation(u, cid, watching=True)
    body = parse(ReadIn)
    last = workspace_repo.last_message_id(u.db, c.id)
    workspace_repo.mark_read(u.db, u.staff.id, c.id, min(body.message_id, last), u.now)
    return jsonify(ok=True)


@bp.post("/consultations/<int:cid>/reopen")
@unit
def reopen(u: Unit, cid: int) -> Response:
    """Reopen a closed consultation, with a reason: the one who closed or held it, or a coordinator."""
    c = consultation(u, cid)
    body = parse(ReopenIn)
    if not views.permissions(u.staff, c, may_see=True, may_supervise=False)["reopen"] and c.state == "closed":
        raise ApiError(403, texts.FORBIDDEN, code="forbidden")
    handoff.reopen(u.db, u.staff, c, body.reason, u.now, u.limits)
    u.audit("reopen", c, detail=body.reason.strip())
    return jsonify(views.summary(u.db, c, u.now))


@bp.post("/consultations/<int:cid>/supervisor-notes")
@unit
def supervisor_note(u: Unit, cid: int) -> Response:
    """A supervisor's note on a live chat: staff see it (the counselor too), the user never does."""
    c = consultation(u, cid, watching=True)
    if not may_supervise(u.staff, c, u.now):
        raise ApiError(403, texts.FORBIDDEN, code="forbidden")
    text = parse(NoteIn).text.strip()
    if not text:
        raise ApiError(400, texts.validation_messages([{"type": "missing", "loc": ("text",)}])["text"],
                       code="invalid", field="text")
    u.db.add(Note(consultation_id=c.id, staff_id=u.staff.id, text=text, created_at=u.now, kind="supervisor"))
    u.audit("supervisor_note", c)
    return jsonify(ok=True), 201


@bp.post("/consultations/<int:cid>/take-over")
@unit
def take_over(u: Unit, cid: int) -> Response:
    """A supervisor takes a live chat over from its counselor (or from the queue)."""
    c = consultation(u, cid, watching=True)
    if not may_supervise(u.staff, c, u.now):
        raise ApiError(403, texts.FORBIDDEN, code="forbidden")
    previous = c.counselor.login if c.counselor else None
    handoff.take_over(u.db, u.staff, c, u.now, u.limits)
    u.audit("take_over", c, detail=f"from {previous}" if previous else "from queue")
    return jsonify(views.summary(u.db, c, u.now))


@bp.post("/consultations/<int:cid>/labels")
@unit
def label(u: Unit, cid: int) -> Response:
    """Put one of the organization's labels on the consultation (`on`: true) or take it off."""
    c = consultation(u, cid)
    body = parse(LabelIn)
    lab = u.db.get(Label, body.label_id)
    if lab is None or lab.organization_id != c.organization_id or not lab.active:
        raise ApiError(400, "この団体のラベルから選んでください。", code="invalid", field="label_id")
    if body.on:
        label_repo.attach(u.db, c.id, lab.id, u.staff.id, u.now)
    else:
        label_repo.detach(u.db, c.id, lab.id)
    u.audit("label", c, detail=f"{'+' if body.on else '-'}{lab.name}")
    return jsonify(labels=label_repo.ids_on(u.db, c.id), may_see=may_see(u.staff, c, u.now))
