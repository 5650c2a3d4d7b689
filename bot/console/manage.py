"""Console pages with plain forms: saved replies (everyone), labels (coordinators), one's own password.

Each form posts back to its page; a refusal re-renders the page with a Japanese message next to the field
that caused it (400), a success redirects with a short confirmation.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from bot.console import replies as placeholders
from bot.console import texts
from bot.console.auth import ALL_ORGANIZATION_ROLES, SUPERVISOR_ROLES
from bot.console.pages import bp, page_unit, start_browser_session
from bot.console.schemas import CannedForm, LabelForm, OwnPasswordForm
from storage import audit
from storage import canned as canned_repo
from storage import consultations as consultation_repo
from storage import labels as label_repo
from storage import staff as staff_repo
from storage.models import CannedReply, Label, Organization, Staff

FLASH = {"added": "追加しました。", "saved": "保存しました。", "deleted": "削除しました。",
         "password": texts.PASSWORD_CHANGED}


def read_form(model: type[BaseModel]) -> tuple[Any, dict[str, str]]:
    """The posted form as `model`, or None and {field: Japanese message}."""
    try:
        return model.model_validate(request.form.to_dict()), {}
    except ValidationError as exc:
        return None, texts.validation_messages(exc.errors(include_url=False, include_input=False))


def password_errors(password: str, again: str, field: str = "password") -> dict[str, str]:
    code = staff_repo.password_problem_code(password)
    if code is not None:
        return {field: texts.PASSWORD_PROBLEMS[code].format(min=staff_repo.PASSWORD_MIN, max=staff_repo.PASSWORD_MAX)}
    if password != again:
        return {"password_again": texts.PASSWORD_MISMATCH}
    return {}


def _audit(db: Session, staff: Staff, action: str, now: Any, detail: str | None = None) -> None:
    audit.record(db, staff.id, action, now, detail=detail, ip=request.remote_addr)


# --- saved replies -------------------------------------------------------------------------------------


def _scopes(staff: Staff) -> dict[str, str]:
    out = {"personal": "自分だけ"}
    if staff.role in ("coordinator", "consortium", "admin"):
        out["organization"] = f"団体（{staff.organization.name}）"
    if staff.role == "admin":
        out["consortium"] = "コンソーシアム共通"
    return out


def _replies_page(db: Session, staff: Staff, errors: dict[str, str] | None = None, form: dict | None = None,
                  editing: int | None = None, status: int = 200):  # noqa: ANN202
    rows = canned_repo.available_to(db, staff)
    page = render_template("replies.html", staff=staff, rows=rows, scope_of=canned_repo.scope_of,
                           may_edit=lambda r: canned_repo.may_edit(staff, r), scopes=_scopes(staff),
                           placeholders=placeholders.PLACEHOLDERS, errors=errors or {}, form=form or {},
                           editing=editing, flash=FLASH.get(request.args.get("done", "")))
    return page, status


def _check_reply(form: dict[str, str]) -> tuple[CannedForm | None, dict[str, str]]:
    body, errors = read_form(CannedForm)
    if body is not None:
        unknown = placeholders.unknown_placeholders(body.text)
        if unknown:
            from bot.console.api import unknown_placeholder_message

            return None, {"text": unknown_placeholder_message(unknown)}
    return body, errors


@bp.route("/replies", methods=["GET", "POST"])
@page_unit
def replies(db: Session, staff: Staff, now: Any):  # noqa: ANN201
    """Saved replies: your own (anyone), your organization's (coordinators), the consortium's (admins).
    Placeholders such as {相談者} are filled in when a reply is inserted into a chat."""
    if request.method == "GET":
        return _replies_page(db, staff)
    body, errors = _check_reply(request.form)
    scope = request.form.get("scope", "personal")
    if scope not in _scopes(staff):
        errors["scope"] = "種類を一覧から選んでください。"
    if errors or body is None:
        return _replies_page(db, staff, errors, request.form.to_dict(), status=400)
    canned_repo.add(db, title=body.title, text=body.text, now=now,
                    organization_id=None if scope == "consortium" else staff.organization_id,
                    staff_id=staff.id if scope == "personal" else None)
    _audit(db, staff, "canned_add", now, scope)
    return redirect(url_for("console.replies", done="added"))



def _own_reply(db: Session, staff: Staff, rid: int) -> CannedReply:
    reply = db.get(CannedReply, rid)
    if reply is None:
        abort(404)
    if not canned_repo.may_edit(staff, reply):
        abort(403)
    return reply


@bp.post("/replies/<int:rid>")
@page_unit
def edit_reply(db: Session, staff: Staff, now: Any, rid: int):  # noqa: ANN201
    reply = _own_reply(db, staff, rid)
    body, errors = _check_reply(request.form)
    if errors or body is None:
        return _replies_page(db, staff, errors, request.form.to_dict(), editing=rid, status=400)
    reply.title, reply.text = body.title, body.text
    _audit(db, staff, "canned_edit", now, canned_repo.scope_of(reply))
    return redirect(url_for("console.replies", done="saved"))


@bp.post("/replies/<int:rid>/delete")
@page_unit
def delete_reply(db: Session, staff: Staff, now: Any, rid: int):  # noqa: ANN201
    reply = _own_reply(db, staff, rid)
    _audit(db, staff, "canned_delete", now, canned_repo.scope_of(reply))
    db.delete(reply)
    return redirect(url_for("console.replies", done="deleted"))


# --- labels -----------------------------------------------------------------------------------------------


def _label_org(db: Session, staff: Staff) -> Organization:
    """The organization whose labels this page manages: a coordinator's own; any for the consortium role."""
    if staff.role not in SUPERVISOR_ROLES:
        abort(403)
    slug = request.values.get("org", "")
    if slug and staff.role in ALL_ORGANIZATION_ROLES:
        org = consultation_repo.organization_by_slug(db, slug)
        if org is None:
            abort(404)
        return org
    return staff.organization


def _labels_page(db: Session, staff: Staff, org: Organization, errors: dict[str, str] | None = None,
                 form: dict | None = None, status: int = 200):  # noqa: ANN202
    from sqlalchemy import select

    orgs = (list(db.scalars(select(Organization).order_by(Organization.name)))
            if staff.role in ALL_ORGANIZATION_ROLES else [])
    page = render_template("labels.html", staff=staff, org=org, orgs=orgs, errors=errors or {}, form=form or {},
                           rows=label_repo.for_organization(db, org.id, include_inactive=True),
                           flash=FLASH.get(request.args.get("done", "")))
    return page, status


@bp.route("/labels", methods=["GET", "POST"])
@page_unit
def labels(db: Session, staff: Staff, now: Any):  # noqa: ANN201
    """Labels an organization puts on its consultations (filterable in the workspace, counted in stats)."""
    org = _label_org(db, staff)
    if request.method == "GET":
        return _labels_page(db, staff, org)
    body, errors = read_form(LabelForm)
    if body is not None and label_repo.by_name(db, org.id, body.name):
        errors = {"name": texts.LABEL_TAKEN}
    if errors or body is None:
        return _labels_page(db, staff, org, errors, request.form.to_dict(), status=400)
    label_repo.create(db, org.id, body.name, now)
    _audit(db, staff, "label_add", now, f"{org.slug}:{body.name}")
    return redirect(url_for("console.labels", org=org.slug if org.id != staff.organization_id else None, done="added"))


@bp.post("/labels/<int:lid>")
@page_unit
def edit_label(db: Session, staff: Staff, now: Any, lid: int):  # noqa: ANN201
    lab = db.get(Label, lid)
    if lab is None:
        abort(404)
    org = db.get(Organization, lab.organization_id)
    if staff.role not in SUPERVISOR_ROLES or (staff.role not in ALL_ORGANIZATION_ROLES
                                              and lab.organization_id != staff.organization_id):
        abort(403)
    action = request.form.get("do", "rename")
    if action in ("disable", "enable"):
        lab.active = action == "enable"
    else:
        body, errors = read_form(LabelForm)
        if body is not None and body.name != lab.name and label_repo.by_name(db, lab.organization_id, body.name):
            errors = {"name": texts.LABEL_TAKEN}
        if errors or body is None:
            return _labels_page(db, staff, org, {f"name-{lid}": errors.get("name", "")}, status=400)
        lab.name = body.name
    _audit(db, staff, "label_edit", now, f"{org.slug}:{lab.name}:{action}")
    return redirect(url_for("console.labels", org=org.slug if org.id != staff.organization_id else None, done="saved"))


# --- my password -------------------------------------------------------------------------------------------


@bp.route("/account", methods=["GET", "POST"])
@page_unit
def account(db: Session, staff: Staff, now: Any):  # noqa: ANN201
    """Change my own password: the current one first; every other session of mine ends, this one goes on."""
    flash = FLASH.get(request.args.get("done", ""))
    if request.method == "GET":
        return render_template("account.html", staff=staff, errors={}, flash=flash)
    body, errors = read_form(OwnPasswordForm)
    if body is not None:
        if not staff_repo.check_password(staff, body.current_password):
            errors = {"current_password": texts.PASSWORD_CURRENT_WRONG}
        else:
            errors = password_errors(body.password, body.password_again)
    if errors or body is None:
        return render_template("account.html", staff=staff, errors=errors, flash=None), 400
    staff_repo.set_password(db, staff, body.password, now)  # ends every session of mine…
    token = staff_repo.start_session(db, staff, now)  # …and this browser goes on with a new one
    _audit(db, staff, "password_change", now)
    start_browser_session(token)
    return redirect(url_for("console.account", done="password"))
