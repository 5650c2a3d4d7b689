"""Staff management for admins (/console/staff): add, disable (sessions end at once, tokens are revoked,
chats held go back to the queue), enable, reset a password, revoke tokens, change organization, role,
display name and the per-person chat limit. Every change is in the audit log."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console import texts
from bot.console.manage import password_errors, read_form
from bot.console.pages import bp, page_unit
from bot.console.schemas import NewStaffForm, PasswordForm, StaffForm
from bot.services import services
from flows import handoff
from storage import audit
from storage import consultations as consultation_repo
from storage import staff as staff_repo
from storage.models import ApiToken, Organization, Staff

DONE = {"added": "追加しました。", "saved": "保存しました。", "enabled": "再開しました。",
        "password": "パスワードを再設定しました。その人のログインはすべて終了しました。",
        "tokens": "APIトークンを失効させました。"}


def _admin(staff: Staff) -> None:
    if staff.role != "admin":
        abort(403)


def _page(db: Session, staff: Staff, now: Any, *, errors: dict[str, str] | None = None, form: dict | None = None,
          row_errors: dict[int, dict[str, str]] | None = None, flash: str | None = None, status: int = 200):  # noqa: ANN202
    people = staff_repo.everyone(db)
    orgs = list(db.scalars(select(Organization).order_by(Organization.name)))
    live_tokens = dict(db.execute(select(ApiToken.staff_id, func.count()).where(ApiToken.revoked_at.is_(None),
                                                                                ApiToken.expires_at > now)
                                  .group_by(ApiToken.staff_id)).all())
    held = {p.id: consultation_repo.active_count_for(db, p.id) for p in people}
    page = render_template("staff.html", staff=staff, people=people, orgs=orgs, errors=errors or {}, form=form or {},
                           row_errors=row_errors or {}, roles=texts.ROLE_LABELS, tokens=live_tokens, held=held,
                           default_limit=services().settings.counselor_max_active,
                           flash=flash or DONE.get(request.args.get("done", "")))
    return page, status


def _organization(db: Session, slug: str) -> Organization | None:
    return consultation_repo.organization_by_slug(db, slug)


@bp.get("/staff")
@page_unit
def staff_list(db: Session, staff: Staff, now: Any):  # noqa: ANN201
    _admin(staff)
    return _page(db, staff, now)


@bp.post("/staff")
@page_unit
def staff_add(db: Session, staff: Staff, now: Any):  # noqa: ANN201
    _admin(staff)
    body, errors = read_form(NewStaffForm)
    org = None
    if body is not None:
        org = _organization(db, body.organization)
        if staff_repo.login_taken(db, body.login):
            errors["login"] = texts.LOGIN_TAKEN
        if org is None:
            errors["organization"] = texts.UNKNOWN_ORGANIZATION
        errors |= password_errors(body.password, body.password_again)
    if errors or body is None or org is None:
        form = {k: v for k, v in request.form.items() if "password" not in k}
        return _page(db, staff, now, errors=errors, form=form, status=400)
    member = staff_repo.create(db, body.login, body.password, body.role, org, now, body.display_name)
    member.max_active = body.max_active
    audit.record(db, staff.id, "staff_add", now, detail=f"{member.login} {member.role} {org.slug}",
                 ip=request.remote_addr)
    return redirect(url_for("console.staff_list", done="added"))


def _member(db: Session, staff: Staff, sid: int) -> Staff:
    _admin(staff)
    member = db.get(Staff, sid)
    if member is None:
        abort(404)
    return member


@bp.post("/staff/<int:sid>")
@page_unit
def staff_edit(db: Session, staff: Staff, now: Any, sid: int):  # noqa: ANN201
    """Organization, role, display name and chat limit."""
    member = _member(db, staff, sid)
    body, errors = read_form(StaffForm)
    org = _organization(db, body.organization) if body is not None else None
    if body is not None and org is None:
        errors["organization"] = texts.UNKNOWN_ORGANIZATION
    if body is not None and member.id == staff.id and body.role != "admin":
        errors["role"] = texts.NOT_YOURSELF  # an admin cannot lock themselves out of this page
    if errors or body is None or org is None:
        return _page(db, staff, now, row_errors={sid: errors}, status=400)
    before = f"{member.role} {member.organization.slug} {member.max_active}"
    member.display_name, member.role, member.organization_id = body.display_name, body.role, org.id
    member.max_active = body.max_active
    audit.record(db, staff.id, "staff_edit", now, ip=request.remote_addr,
                 detail=f"{member.login}: {before} -> {body.role} {org.slug} {body.max_active}")
    return redirect(url_for("console.staff_list", done="saved"))


@bp.post("/staff/<int:sid>/disable")
@page_unit
def staff_disable(db: Session, staff: Staff, now: Any, sid: int):  # noqa: ANN201
    """Disable an account: its sessions end at once and its tokens are revoked; the chats it held go back
    to the queue (the users are told a counselor is changing; chats at risk alert again)."""
    member = _member(db, staff, sid)
    if member.id == staff.id:
        return _page(db, staff, now, row_errors={sid: {"disable": texts.NOT_YOURSELF}}, status=400)
    staff_repo.disable(db, member, now)
    released = handoff.release_all(db, member, now)
    audit.record(db, staff.id, "staff_disable", now, ip=request.remote_addr,
                 detail=f"{member.login}; {len(released)} back to the queue")
    flash = f"{member.display_name}さんを停止しました。ログインは直ちに終了しました。"
    if released:
        flash += f"担当中だった{len(released)}件は待機に戻しました。"
    return _page(db, staff, now, flash=flash)


@bp.post("/staff/<int:sid>/enable")
@page_unit
def staff_enable(db: Session, staff: Staff, now: Any, sid: int):  # noqa: ANN201
    member = _member(db, staff, sid)
    staff_repo.enable(db, member)
    audit.record(db, staff.id, "staff_enable", now, detail=member.login, ip=request.remote_addr)
    return redirect(url_for("console.staff_list", done="enabled"))


@bp.post("/staff/<int:sid>/password")
@page_unit
def staff_password(db: Session, staff: Staff, now: Any, sid: int):  # noqa: ANN201
    """A new password set by an admin (to hand over in person): the person's sessions end."""
    member = _member(db, staff, sid)
    body, errors = read_form(PasswordForm)
    if body is not None:
        errors = password_errors(body.password, body.password_again)
    if errors or body is None:
        return _page(db, staff, now, row_errors={sid: errors}, status=400)
    staff_repo.set_password(db, member, body.password, now)
    audit.record(db, staff.id, "staff_password", now, detail=member.login, ip=request.remote_addr)
    return redirect(url_for("console.staff_list", done="password"))


@bp.post("/staff/<int:sid>/revoke-tokens")
@page_unit
def staff_revoke_tokens(db: Session, staff: Staff, now: Any, sid: int):  # noqa: ANN201
    member = _member(db, staff, sid)
    n = staff_repo.revoke_tokens(db, member.id, now)
    audit.record(db, staff.id, "staff_tokens_revoke", now, detail=f"{member.login}: {n}", ip=request.remote_addr)
    return redirect(url_for("console.staff_list", done="tokens"))
