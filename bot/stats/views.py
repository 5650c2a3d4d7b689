"""/console/stats: the coordinators' dashboard, charts and CSV exports.

Who sees what: a coordinator sees their own organization; the consortium role (and admin) sees every
member organization, or one of them; counselors get 403. Counts of 1-4 are shown as "<5" in any figure
that crosses member organizations. Every export is written to the audit log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, redirect, render_template, request, stream_with_context, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.auth import current_staff
from bot.services import services
from bot.stats import charts, labels
from storage import audit, stats
from storage.models import Organization, Staff

bp = Blueprint("stats", __name__, url_prefix="/console/stats", template_folder="templates",
               static_folder="static", static_url_path="/static")

ALL_MEMBER_ROLES = ("consortium", "admin")
STAFF_ROLES = ("coordinator", *ALL_MEMBER_ROLES)
MAX_DAYS = 5 * 366 + 1


class Query:
    """The period, scope and organization choices of one request, parsed strictly (bad input: 400)."""

    def __init__(self, db: Session, staff: Staff, args: Any, today: date, zone: str) -> None:
        self.kind = args.get("period", "fy")
        try:
            if self.kind == "fy":
                self.period = stats.fiscal_year(int(args.get("fy", stats.fiscal_year_of(today))), zone)
            elif self.kind == "month":
                y, m = (int(p) for p in args.get("month", f"{today:%Y-%m}").split("-"))
                self.period = stats.month(y, m, zone)
            elif self.kind == "custom":
                first, last = date.fromisoformat(args.get("from", "")), date.fromisoformat(args.get("to", ""))
                if (last - first).days > MAX_DAYS:
                    abort(400, "the period may be at most five years")
                self.period = stats.custom(first, last, zone)
            else:
                abort(400, "period: fy, month or custom")
        except ValueError:
            abort(400, "period: a fiscal year (fy=2025), a month (month=2025-06) or dates (from, to)")
        if self.period.first_day.year < 2000 or self.period.last_day.year > 2100:
            abort(400, "period out of range")
        training = args.get("training", "exclude")
        if training not in ("exclude", "only"):
            abort(400, "training: exclude or only")
        self.all_members = staff.role in ALL_MEMBER_ROLES
        orgs = list(db.execute(select(Organization.id, Organization.slug, Organization.name)
                               .order_by(Organization.name)))
        self.organizations = [(slug, name) for _, slug, name in orgs] if self.all_members else []
        self.org = args.get("org", "")
        by_slug = {slug: oid for oid, slug, _ in orgs}
        if self.all_members:
            if self.org and self.org not in by_slug:
                abort(400, "org: unknown organization")
            ids = (by_slug[self.org],) if self.org else None
        else:
            own = next((slug for oid, slug, _ in orgs if oid == staff.organization_id), "")
            if self.org and self.org != own:
                abort(403)
            self.org = own
            ids = (staff.organization_id,)
        self.scope = stats.Scope(ids, training)
        self.training = training
        self.fy = self.period.first_day.year if self.kind == "fy" else stats.fiscal_year_of(today)

    @property
    def crosses(self) -> bool:
        return self.scope.crosses_members

    def describe(self) -> str:
        return (f"{self.period.first_day}..{self.period.last_day} org={self.org or 'all'} "
                f"training={self.training}")


def _unit(fn):  # noqa: ANN001, ANN202
    """One session and one clock reading; coordinators and above only."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        svc = services()
        now = svc.clock()
        with svc.sessions.begin() as db:
            staff = current_staff(db)
            if staff is None:
                if request.path.endswith(".csv"):
                    abort(401)
                return redirect(url_for("console.login"))
            if staff.role not in STAFF_ROLES:
                abort(403)
            zone = svc.settings.service_timezone
            q = Query(db, staff, request.args, now.astimezone(ZoneInfo(zone)).date(), zone)
            return fn(db, staff, now, q, *args, **kwargs)

    wrapper.__name__ = fn.__name__
    return wrapper


# --- presentation ---------------------------------------------------------------------------------


def minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}分"


def share(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def view_model(data: dict[str, Any], q: Query) -> dict[str, Any]:
    """The figures as shown: counts suppressed where they cross member organizations."""
    crosses = q.crosses

    def n(v: int | None) -> int | str | None:
        return stats.shown(v, crosses)

    def dist(d: dict[str, Any], unit: Any = minutes) -> dict[str, Any]:
        hidden = crosses and 0 < d["n"] < stats.SUPPRESS_BELOW
        return {"n": n(d["n"]), "median": "<5件" if hidden else unit(d["median"]),
                "p90": "<5件" if hidden else unit(d["p90"])}

    c, s = data["consultations"], data["service"]
    ms = data["milestones"]
    return {
        "friends": [(labels.FRIEND_LABELS[k], n(v) if k not in ("net", "cumulative") else v)
                    for k, v in data["friends"].items()],
        "totals": [("相談件数", n(c["total"])), ("相談者数（実人数）", n(c["clients"])),
                   ("うち初めての人", n(c["new_clients"])), ("うち以前にも相談した人", n(c["returning_clients"]))],
        "who_age": _crosstab(c["by_who_age"], n),
        "by_area": [(labels.area(k), n(v)) for k, v in c["by_area"].items()],
        "by_concern": [(labels.CONCERN_LABELS.get(k, k), n(v)) for k, v in c["by_concern"].items()],
        "referrals": [(labels.CATEGORY_LABELS[k], n(v)) for k, v in data["referrals"].items()],
        "milestones": [(labels.MILESTONE_LABELS[k], n(ms[k])) for k in stats.MILESTONE_KINDS],
        "next_steps": [(labels.NEXT_STEP_LABELS.get(k, k), n(v)) for k, v in sorted(ms["next_step_by"].items())],
        "labels": [(f"{row['label']}（{row['organization']}）" if crosses else row["label"], n(row["consultations"]))
                   for row in data["labels"]],
        "service": [
            ("相談員が入るまでの待ち時間", dist(s["wait"])), ("最初の返信までの時間", dist(s["first_response"])),
            ("相談の長さ（相談員が入ってから終了まで）", dist(s["length"])),
            ("危機（高リスク・緊急）で相談員が入るまで", dist(s["crisis_to_human"])),
        ],
        "queue": [("待機に入った相談", n(s["queued"])), ("相談員が対応", n(s["answered"])),
                  ("対応前に離れた", n(s["left_unanswered"])), ("離れた割合", share(s["left_share"]))],
        "crisis": [(labels.CRISIS_LABELS[k], n(v)) for k, v in s["crisis_by_level"].items()]
        + [("危機のうち5分以内に相談員", n(s["crisis_to_human"]["within_5min"])),
           ("5分以内の割合", share(s["crisis_to_human"]["share_within_5min"])),
           ("相談員が入らなかった危機", n(s["crisis_to_human"]["unreached"]))],
        "survey": [(labels.SURVEY_LABELS[k], n(s["survey"][k])) for k in ("good", "ok", "bad")]
        + [("回答数", n(s["survey"]["answered"])), ("依頼数", n(s["survey"]["asked"]))],
        "outside_hours": None if data["outside_hours"] is None else
        [("受付時間外のメッセージ", n(data["outside_hours"]["messages"])),
         ("送った相談者", n(data["outside_hours"]["clients"]))],
        "load_orgs": [{**row, "consultations": n(row["consultations"]), "answered": n(row["answered"]),
                       "left_unanswered": n(row["left_unanswered"]), "crises": n(row["crises"])}
                      for row in data["load"]["organizations"]],
        "load_counselors": [{**row, "consultations": n(row["consultations"]),
                             "median_length": minutes(row["median_length"])}
                            for row in data["load"]["counselors"]],
        "charts": {
            "per_day": charts.daily_bars([(d, n(v)) for d, v in data["per_day"]], "日ごとの相談件数"),
            "heatmap": charts.heatmap([[n(v) for v in row] for row in data["heatmap"]], labels.WEEKDAYS,
                                      "曜日×時間帯の相談件数"),
            "waits": charts.wait_lines([p for p in data["waits_over_time"]
                                        if not (crosses and p["n"] < stats.SUPPRESS_BELOW)], "待ち時間の推移"),
            "referrals": charts.hbars([(labels.CATEGORY_LABELS[k], n(v)) for k, v in data["referrals"].items()],
                                      "紹介先の内訳"),
            "milestones": charts.hbars([(labels.MILESTONE_LABELS[k], n(ms[k])) for k in stats.MILESTONE_KINDS],
                                       "マイルストーンの内訳"),
        },
    }


def _crosstab(by_who_age: dict[str, int], n: Any) -> dict[str, Any]:
    ages = [a for a in (*labels.AGE_LABELS,) if any(k.endswith("/" + a) for k in by_who_age)]
    whos = [w for w in labels.WHO_LABELS if any(k.startswith(w + "/") for k in by_who_age)]
    return {"ages": [labels.AGE_LABELS[a] for a in ages],
            "rows": [(labels.WHO_LABELS[w], [n(by_who_age.get(f"{w}/{a}", 0)) for a in ages],
                      n(sum(v for k, v in by_who_age.items() if k.startswith(w + "/")))) for w in whos]}


# --- pages and exports ----------------------------------------------------------------------------


@bp.get("/")
@_unit
def dashboard(db: Session, staff: Staff, now: datetime, q: Query) -> str:
    data = stats.dashboard(db, q.period, q.scope)
    return render_template("stats/dashboard.html", staff=staff, q=q, v=view_model(data, q),
                           query_string=request.query_string.decode())


def aggregate_rows(data: dict[str, Any], q: Query) -> Iterator[list[Any]]:
    """(section, item, value) for every figure, suppressed like the page."""
    def n(v: int | None) -> Any:
        return stats.shown(v, q.crosses)

    yield ["section", "item", "value"]
    yield ["period", "from", q.period.first_day.isoformat()]
    yield ["period", "to", q.period.last_day.isoformat()]
    yield ["scope", "organization", q.org or "all"]
    yield ["scope", "training", q.training]
    for k, v in data["friends"].items():
        yield ["friends", k, v if k in ("net", "cumulative") else n(v)]
    c = data["consultations"]
    for k in ("total", "clients", "new_clients", "returning_clients"):
        yield ["consultations", k, n(c[k])]
    for group in ("by_who", "by_age_band", "by_who_age", "by_area", "by_concern"):
        for k, v in c[group].items():
            yield [f"consultations.{group}", k, n(v)]
    for k, v in data["referrals"].items():
        yield ["referrals", k, n(v)]
    for k in stats.MILESTONE_KINDS:
        yield ["milestones", k, n(data["milestones"][k])]
    for k, v in data["milestones"]["next_step_by"].items():
        yield ["milestones.next_step", k, n(v)]
    for row in data["labels"]:
        yield ["labels", f"{row['organization']}/{row['label']}", n(row["consultations"])]
    s = data["service"]
    for fig in ("wait", "first_response", "length", "crisis_to_human"):
        hidden = q.crosses and 0 < s[fig]["n"] < stats.SUPPRESS_BELOW
        yield [f"service.{fig}", "n", n(s[fig]["n"])]
        for stat in ("median", "p90"):
            yield [f"service.{fig}", f"{stat}_seconds", "<5" if hidden else s[fig][stat]]
    for k in ("queued", "answered", "left_unanswered"):
        yield ["service", k, n(s[k])]
    yield ["service", "left_share", s["left_share"]]
    for k, v in s["crisis_by_level"].items():
        yield ["service.crisis_by_level", k, n(v)]
    for k in ("crises", "unreached", "within_5min"):
        yield ["service.crisis_to_human", k, n(s["crisis_to_human"][k])]
    yield ["service.crisis_to_human", "share_within_5min", s["crisis_to_human"]["share_within_5min"]]
    for k, v in s["survey"].items():
        yield ["service.survey", k, n(v)]
    if data["outside_hours"] is not None:
        for k, v in data["outside_hours"].items():
            yield ["service.outside_hours", k, n(v)]
    for row in data["load"]["organizations"]:
        for k in ("consultations", "answered", "left_unanswered", "crises"):
            yield [f"load.organization.{row['organization']}", k, n(row[k])]
    for row in data["load"]["counselors"]:
        yield [f"load.counselor.{row['counselor']}", "consultations", n(row["consultations"])]
        yield [f"load.counselor.{row['counselor']}", "median_length_seconds", row["median_length"]]
    for d, v in data["per_day"]:
        yield ["per_day", d.isoformat(), n(v)]
    for w, row in enumerate(data["heatmap"]):
        for h, v in enumerate(row):
            yield ["weekday_hour", f"{w}-{h:02d}", n(v)]
    for p in data["waits_over_time"]:
        hidden = q.crosses and p["n"] < stats.SUPPRESS_BELOW
        yield ["waits_over_time", p["day"].isoformat(), "<5" if hidden else f"{p['median']}/{p['p90']}"]


def csv_text(rows: Iterator[list[Any]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow(row)
        if buf.tell() > 64_000:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _csv_response(body: Iterator[str], filename: str) -> Response:
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


@bp.get("/export/aggregates.csv")
@_unit
def export_aggregates(db: Session, staff: Staff, now: datetime, q: Query) -> Response:
    data = stats.dashboard(db, q.period, q.scope)
    audit.record(db, staff.id, "stats_export", now, detail=f"aggregates {q.describe()}", ip=request.remote_addr)
    return _csv_response(iter(list(csv_text(aggregate_rows(data, q)))),
                         f"tsunagu-stats-{q.period.first_day}-{q.period.last_day}.csv")


def export_key() -> bytes:
    import hashlib

    return hashlib.sha256(b"tsunagu-export-key:" + services().settings.secret_key.encode()).digest()


@bp.get("/export/consultations.csv")
def export_consultations() -> Response:
    """Streamed: the audit row is committed first, then rows are read in a session of their own."""
    svc = services()
    key = export_key()

    @_unit
    def _audit(db: Session, staff: Staff, now: datetime, q: Query) -> Query:
        audit.record(db, staff.id, "stats_export", now, detail=f"consultations {q.describe()}",
                     ip=request.remote_addr)
        return q

    q = _audit()
    if isinstance(q, Response):  # a redirect to the login page
        return q

    def rows() -> Iterator[list[Any]]:
        yield list(stats.EXPORT_COLUMNS)
        with svc.sessions() as db:
            for row in stats.export_consultations(db, q.period, q.scope, key):
                yield [row[c] for c in stats.EXPORT_COLUMNS]

    return _csv_response(stream_with_context(csv_text(rows())),
                         f"tsunagu-consultations-{q.period.first_day}-{q.period.last_day}.csv")


@bp.errorhandler(400)
def _bad_request(exc: Any) -> tuple[str, int]:
    return f"400 Bad Request: {escape_text(getattr(exc, 'description', ''))}", 400


def escape_text(s: str) -> str:
    from markupsafe import escape

    return str(escape(s))
