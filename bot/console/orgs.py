"""/console/orgs: admins list and edit the member organizations (issue 10), checked by the same rules as
the consortium file (flows/organizations.py `parse_organization`). Plain forms with the CSRF token."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from bot.console import texts
from bot.console.auth import check_csrf, current_staff
from bot.security import clean_text
from bot.services import services
from flows import organizations
from flows import texts as bot_texts
from storage import audit
from storage import organizations as org_repo

bp = Blueprint("console_orgs", __name__, url_prefix="/console/orgs", template_folder="templates")
TEXT_MAX = 2000
_MESSAGES = {"saved": texts.ORG_SAVED, "activated": texts.ORG_ACTIVATED, "deactivated": texts.ORG_DEACTIVATED}


def _admin(db):  # noqa: ANN001, ANN202
    staff = current_staff(db)
    if staff is None:
        return None
    if staff.role != "admin":
        abort(403)
    return staff


def _field(name: str, limit: int = 400) -> str:
    return clean_text(request.form.get(name, ""), limit).strip()


@bp.get("/")
def index():  # noqa: ANN201
    svc = services()
    now = svc.clock()
    tz = svc.policy.routing.tz
    with svc.sessions() as db:
        staff = _admin(db)
        if staff is None:
            return redirect(url_for("console.login"))
        rows = [{"org": o, "kind": texts.ORG_KIND_LABELS.get(o.kind, o.kind),
                 "evenings": organizations.evenings_of(o).label(),
                 "staffed": organizations.is_staffed(o, now, tz)} for o in org_repo.all_organizations(db)]
        return render_template("orgs.html", staff=staff, rows=rows, rules=org_repo.rules(db),
                               message=_MESSAGES.get(request.args.get("m", "")))


@bp.route("/<slug>", methods=["GET", "POST"])
def edit(slug: str):  # noqa: ANN201
    svc = services()
    now = svc.clock()
    with svc.sessions.begin() as db:
        staff = _admin(db)
        if staff is None:
            return redirect(url_for("console.login"))
        org = org_repo.by_slug(db, slug[:40])
        if org is None or org.is_default:
            abort(404)
        problems: list[str] = []
        if request.method == "POST":
            check_csrf()
            raw = _form_organization(slug)
            spec = organizations.parse_organization(raw, f"organization {slug!r}", problems)
            if spec is not None:
                outcome = org_repo.upsert(db, slug, spec.columns(), now)
                if outcome == "changed":
                    audit.record(db, staff.id, "org_edit", now, detail=f"organization {slug}", ip=request.remote_addr)
                return redirect(url_for("console_orgs.index", m="saved"))
        return render_template("org_edit.html", staff=staff, org=org, problems=problems,
                               problems_heading=texts.ORG_PROBLEMS, kinds=organizations.KINDS,
                               kind_labels=texts.ORG_KIND_LABELS, who=bot_texts.WHO_LABELS,
                               ages=bot_texts.AGE_LABELS, concerns=bot_texts.CONCERN_LABELS,
                               evenings=organizations.evenings_to_text(org.evenings),
                               form=request.form if request.method == "POST" else None)


@bp.post("/<slug>/active")
def set_active(slug: str):  # noqa: ANN201
    svc = services()
    now = svc.clock()
    with svc.sessions.begin() as db:
        staff = _admin(db)
        if staff is None:
            return redirect(url_for("console.login"))
        check_csrf()
        org = org_repo.by_slug(db, slug[:40])
        if org is None or org.is_default:
            abort(404)
        active = request.form.get("active") == "1"
        if org.active != active:
            org.active, org.updated_at = active, now
            audit.record(db, staff.id, "org_activate" if active else "org_deactivate", now,
                         detail=f"organization {slug}", ip=request.remote_addr)
    return redirect(url_for("console_orgs.index", m="activated" if active else "deactivated"))


def _form_organization(slug: str) -> dict:
    """The form, in the consortium file's shape, for the file's own checks."""
    capacity = _field("capacity", 10)
    raw: dict = {"slug": slug, "name": _field("name", 200), "kind": _field("kind", 40),
                 "active": request.form.get("active") == "1",
                 "takes": {"who": request.form.getlist("who"), "age_bands": request.form.getlist("age_bands"),
                           "concerns": request.form.getlist("concerns"),
                           "areas": [a.strip() for a in _field("areas").replace("、", ",").split(",") if a.strip()]},
                 "evenings": organizations.evenings_from_text(_field("evenings", TEXT_MAX)),
                 "closed": [d.strip() for d in _field("closed", TEXT_MAX).replace("\n", ",").split(",") if d.strip()],
                 "referral": {k: _field(f"referral_{k}") for k in organizations.REFERRAL_KEYS}}
    if capacity:
        raw["capacity"] = int(capacity) if capacity.isdigit() else capacity
    return raw
