"""Aggregate queries for the coordinators' statistics: one function per figure family, each taking the
session, a `Period` and a `Scope`. No message text, note text or LINE ID is ever read here.

Periods are half-open `[start, end)` in UTC, built from midnight boundaries in the service's zone (JST):
a month, a fiscal year (1 April - 31 March) or custom dates. Consultations belong to the period in which
they were created. Local-day buckets use the zone's UTC offset (JST has no daylight saving time).

Percentiles: linear interpolation between the closest ranks (PostgreSQL `percentile_cont`, Excel
`PERCENTILE.INC`, numpy's default): for sorted values x[0..n-1], p = q*(n-1), result
x[floor p] + (p - floor p) * (x[ceil p] - x[floor p]). PostgreSQL computes it with `percentile_cont`;
SQLite returns the sorted durations and `percentile()` below computes the same thing in Python.

Training consultations are left out unless the scope asks for them alone (`training="only"`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Float, and_, any_, case, cast, distinct, func, literal_column, or_, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from storage.models import (
    Client,
    Consultation,
    ConsultationLabel,
    FriendEvent,
    Label,
    Message,
    Milestone,
    Organization,
    Staff,
)

SUPPRESS_BELOW = 5
CRISIS_LEVELS = ("moderate", "high", "imminent")
CRISIS_FAST = 300.0  # seconds: "a human within 5 minutes"
# Referral codes (flows/handoff.py) -> destination categories the funders count.
REFERRAL_CATEGORIES = {
    "family_association": "family_association", "regional_center": "regional_center",
    "support_station": "support_station", "peer_group": "peer_group", "ibasho": "ibasho",
    "medical": "medical", "government": "other", "other": "other",
}
CATEGORIES = ("family_association", "regional_center", "support_station", "peer_group", "ibasho", "medical",
              "other")
MILESTONE_KINDS = ("group_program", "family_association", "support_station", "job_search", "next_step")


# --- period and scope ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    first_day: date  # local dates, inclusive
    last_day: date
    zone: str = "Asia/Tokyo"
    label: str = ""

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]

    @property
    def offset_minutes(self) -> int:
        off = self.start.astimezone(ZoneInfo(self.zone)).utcoffset()
        return int(off.total_seconds() // 60) if off else 0


def custom(first_day: date, last_day: date, zone: str = "Asia/Tokyo", label: str | None = None) -> Period:
    """From midnight local time on `first_day` to midnight after `last_day` (both days included)."""
    if last_day < first_day:
        raise ValueError("the period ends before it starts")
    tz = ZoneInfo(zone)
    start = datetime.combine(first_day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return Period(start, end, first_day, last_day, zone, label or f"{first_day}〜{last_day}")


def month(year: int, month_: int, zone: str = "Asia/Tokyo") -> Period:
    nxt = date(year + (month_ == 12), month_ % 12 + 1, 1)
    return custom(date(year, month_, 1), nxt - timedelta(days=1), zone, f"{year}年{month_}月")


def fiscal_year(year: int, zone: str = "Asia/Tokyo") -> Period:
    """Japanese fiscal year `year`: 1 April `year` 00:00 to 1 April `year + 1` 00:00, local time."""
    return custom(date(year, 4, 1), date(year + 1, 3, 31), zone, f"{year}年度")


def fiscal_year_of(day: date) -> int:
    return day.year if day.month >= 4 else day.year - 1


@dataclass(frozen=True)
class Scope:
    organization_ids: tuple[int, ...] | None = None  # None: every member organization
    training: str = "exclude"  # exclude, only

    def __post_init__(self) -> None:
        if self.training not in ("exclude", "only"):
            raise ValueError("training must be 'exclude' or 'only'")

    @property
    def crosses_members(self) -> bool:
        """Figures that cross member organizations show counts below 5 as "<5"."""
        return self.organization_ids is None or len(self.organization_ids) > 1


def shown(n: int | None, crosses_members: bool) -> int | str | None:
    """A count as it may be shown: 1-4 become "<5" when the figure crosses member organizations."""
    if n is None:
        return None
    if crosses_members and 0 < n < SUPPRESS_BELOW:
        return f"<{SUPPRESS_BELOW}"
    return n


# --- dialect helpers -----------------------------------------------------------------------------


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _prepare(session: Session) -> None:
    """PostgreSQL, for the current transaction only: no JIT (its compile time costs more than these
    sub-second scans save), room to sort a year of durations in memory, and no parallel workers (a
    coordinator's page should not take every core from the webhook)."""
    if _pg(session):
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def _seconds(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    if _pg(session):
        # date_part, not EXTRACT: EXTRACT returns numeric (PostgreSQL 14+), whose arithmetic cost more than
        # the sorts; date_part computes in float8: the same double as EXTRACT's value cast to float8 for
        # durations under a day, within one unit in the last place above.
        return func.date_part("epoch", later - earlier, type_=Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _pct(duration: Any) -> Any:
    """PostgreSQL: median and p90 from one sort: percentile_cont(ARRAY[0.5, 0.9])."""
    return func.percentile_cont(postgresql.array([0.5, 0.9])).within_group(duration)


def _local(session: Session, col: Any, period: Period) -> ColumnElement[Any]:
    """The column as a naive local timestamp (PostgreSQL) or local text (SQLite)."""
    m = period.offset_minutes
    if _pg(session):
        return func.timezone("UTC", col) + literal_column(f"interval '{m} minutes'")
    return func.datetime(col, f"{m:+d} minutes")


def _local_day(session: Session, col: Any, period: Period) -> ColumnElement[Any]:
    if _pg(session):
        return cast(_local(session, col, period), Date)
    return func.date(col, f"{period.offset_minutes:+d} minutes")


def _to_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v))


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (= PostgreSQL percentile_cont)."""
    n = len(sorted_values)
    if n == 0:
        return None
    p = q * (n - 1)
    lo, hi = math.floor(p), math.ceil(p)
    return float(sorted_values[lo] + (p - lo) * (sorted_values[hi] - sorted_values[lo]))


@dataclass(frozen=True)
class Distribution:
    n: int
    median: float | None
    p90: float | None
    rows: int = 0  # rows in the group, with or without a duration (when asked for)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "median": _r(self.median), "p90": _r(self.p90)}


def _pair(q: Sequence[float] | None) -> tuple[float | None, float | None]:
    return (None, None) if q is None else (float(q[0]), float(q[1]))


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _distributions(session: Session, key: Any, duration: Any, where: list[Any], *,
                   count_all: bool = False, applies: Any = None) -> dict[Any, Distribution]:
    """Median and p90 of `duration` (seconds) grouped by `key`, the same on both databases. With
    `count_all`, groups whose durations are all NULL are kept and `rows` counts every row of a group.
    `applies`: a cheaper test for the rows that have a duration (else the duration is computed twice)."""
    if not count_all:
        where = [*where, duration.is_not(None) if applies is None else applies]
    if _pg(session):
        rows = session.execute(select(key, func.count(duration), _pct(duration), func.count())
                               .where(*where).group_by(key))
        return {k: Distribution(n, *(_pair(q)), all_) for k, n, q, all_ in rows}
    groups: dict[Any, list[float]] = defaultdict(list)
    counted: dict[Any, int] = defaultdict(int)
    for k, d in session.execute(select(key, cast(duration, Float)).where(*where).order_by(key, duration)):
        counted[k] += 1
        if d is not None:
            groups[k].append(round(d, 3))
    return {k: Distribution(len(groups[k]), percentile(groups[k], 0.5), percentile(groups[k], 0.9), counted[k])
            for k in counted}


# --- the consultation base -------------------------------------------------------------------------


def _base(period: Period, scope: Scope) -> list[Any]:
    """Consultations that reached the queue (through intake, or at once for a crisis) in the period."""
    where: list[Any] = [Consultation.created_at >= period.start, Consultation.created_at < period.end,
                        Consultation.queued_at.is_not(None),
                        Consultation.is_training.is_(scope.training == "only")]
    if scope.organization_ids is not None:
        where.append(Consultation.organization_id.in_(scope.organization_ids))
    return where


def _training_clients(scope: Scope) -> Any:
    return Client.is_training.is_(scope.training == "only")


# --- 1. program KPIs -------------------------------------------------------------------------------


def friends(session: Session, period: Period, scope: Scope) -> dict[str, int]:
    """LINE friends: follows (re-follows after a block included and also counted apart), blocks, net, and
    the friends at the end of the period (every follow minus every block up to then). The LINE account
    is the consortium's, so these figures are the same for every member organization.

    Training clients are few: their events are counted on their own (a small partial index finds them)
    and taken off the totals, rather than joining every event to its client."""
    _prepare(session)
    fe = FriendEvent
    in_period = fe.occurred_at >= period.start
    cols = (func.count().filter(fe.kind == "follow", in_period), func.count().filter(fe.kind == "block", in_period),
            func.count().filter(fe.kind == "follow", in_period, fe.refollow),  # rollup: storage/rollups.py
            func.count().filter(fe.kind == "follow"), func.count().filter(fe.kind == "block"))
    trainees = select(Client.id).where(Client.is_training)  # as the partial index says it
    if _pg(session):  # the few trainees' events by their index (IN would hash-join every event)
        training = fe.client_id == any_(func.array(trainees.scalar_subquery()))
    else:
        training = fe.client_id.in_(trainees)
    t = session.execute(select(*cols).where(fe.occurred_at < period.end, training)).one()
    if scope.training == "only":
        follows, blocks, refollows, all_follows, all_blocks = t
    else:  # the period from its index range; the total to date needs every earlier event (one pass)
        every = (*session.execute(select(*cols[:3]).where(in_period, fe.occurred_at < period.end)).one(),
                 *session.execute(select(*cols[3:]).where(fe.occurred_at < period.end)).one())
        follows, blocks, refollows, all_follows, all_blocks = (x - y for x, y in zip(every, t, strict=True))
    return {"follows": follows, "new_follows": follows - refollows, "refollows": refollows, "blocks": blocks,
            "net": follows - blocks, "cumulative": all_follows - all_blocks}


def consultations(session: Session, period: Period, scope: Scope) -> dict[str, Any]:
    """Consultations by who writes, age band, who × age band, area and concern; and the people behind
    them: distinct clients, of whom first-time (no consultation reached the queue before the period) and
    returning (one had)."""
    _prepare(session)
    rows = session.execute(
        select(Consultation.who, Consultation.age_band, Consultation.area, Consultation.concern, func.count())
        .where(*_base(period, scope))
        .group_by(Consultation.who, Consultation.age_band, Consultation.area, Consultation.concern)).all()
    out: dict[str, Any] = {"total": 0, "by_who": defaultdict(int), "by_age_band": defaultdict(int),
                           "by_who_age": defaultdict(int), "by_area": defaultdict(int),
                           "by_concern": defaultdict(int)}
    for who, age, area, concern, n in rows:
        who, age, area, concern = who or "unknown", age or "unknown", area or "unknown", concern or "unknown"
        out["total"] += n
        out["by_who"][who] += n
        out["by_age_band"][age] += n
        out["by_who_age"][f"{who}/{age}"] += n
        out["by_area"][area] += n
        out["by_concern"][concern] += n
    for k in ("by_who", "by_age_band", "by_who_age", "by_area", "by_concern"):
        out[k] = dict(sorted(out[k].items()))
    # Returning: the client's first queued consultation (a rollup, storage/rollups.py) was before the period;
    # every row of a client carries the same value. Read from the index alone on PostgreSQL.
    person = Consultation.client_id
    clients, returning = session.execute(
        select(func.count(distinct(person)),
               func.count(distinct(person)).filter(Consultation.client_first_queued_at < period.start))
        .where(*_base(period, scope))).one()
    out["clients"], out["returning_clients"], out["new_clients"] = clients, returning, clients - returning
    return out


def referrals(session: Session, period: Period, scope: Scope) -> dict[str, int]:
    """Referrals by destination category (家族会, 地域支援センター, サポステ, 当事者会, 居場所, 医療, その他)."""
    _prepare(session)
    rows = session.execute(select(Consultation.referral, func.count())
                           .where(*_base(period, scope), Consultation.disposition == "referral")
                           .group_by(Consultation.referral))
    out = dict.fromkeys(CATEGORIES, 0)
    for code, n in rows:
        out[REFERRAL_CATEGORIES.get(code or "", "other")] += n
    return out


def milestones(session: Session, period: Period, scope: Scope) -> dict[str, Any]:
    """Clients who reached each milestone in the period (by the day it happened), each client once per
    kind; decided next steps also by what was decided."""
    _prepare(session)
    where = [Milestone.occurred_on >= period.first_day, Milestone.occurred_on <= period.last_day,
             Milestone.is_training.is_(scope.training == "only")]
    if scope.organization_ids is not None:
        where.append(Milestone.organization_id.in_(scope.organization_ids))
    out: dict[str, Any] = dict.fromkeys(MILESTONE_KINDS, 0)
    for kind, n in session.execute(select(Milestone.kind, func.count(distinct(Milestone.client_id)))
                                   .where(*where).group_by(Milestone.kind)):
        out[kind] = n
    out["next_step_by"] = {s: n for s, n in session.execute(
        select(Milestone.next_step, func.count(distinct(Milestone.client_id)))
        .where(*where, Milestone.kind == "next_step").group_by(Milestone.next_step))}
    return out


def labels(session: Session, period: Period, scope: Scope) -> list[dict[str, Any]]:
    """Consultations of the period carrying each label (labels are defined per organization), most first."""
    _prepare(session)
    rows = session.execute(
        select(Organization.name, Label.name, func.count(distinct(ConsultationLabel.consultation_id)))
        .select_from(Consultation)
        .join(ConsultationLabel, ConsultationLabel.consultation_id == Consultation.id)
        .join(Label, Label.id == ConsultationLabel.label_id)
        .join(Organization, Organization.id == Label.organization_id)
        .where(*_base(period, scope))
        .group_by(Organization.name, Label.name))
    return sorted(({"organization": org, "label": name, "consultations": n} for org, name, n in rows),
                  key=lambda r: (-r["consultations"], r["organization"], r["label"]))


# --- 2. service figures ----------------------------------------------------------------------------


def _aggregate(session: Session, where: list[Any], counts: dict[str, Any],
               durations: dict[str, tuple[Any, Any]]) -> tuple[dict[str, int], dict[str, Distribution]]:
    """Counts and duration distributions over one set of rows; each duration is (seconds, the condition
    under which it applies). PostgreSQL: one scan, each percentile over its own rows (`FILTER`, so the
    duration is computed only where it applies). SQLite: the counts, then the durations sorted in Python."""
    names = list(durations)
    if _pg(session):
        cols: list[Any] = [e.label(k) for k, e in counts.items()]
        for k in names:
            value, applies = durations[k]
            cols += [func.count().filter(applies), _pct(value).filter(applies)]
        row = session.execute(select(*cols).where(*where)).one()
        got = dict(zip(counts, row[:len(counts)], strict=True))
        dists = {}
        for i, k in enumerate(names):
            n, q = row[len(counts) + 2 * i: len(counts) + 2 * i + 2]
            dists[k] = Distribution(n, *_pair(q))
        return got, dists
    row = session.execute(select(*[e.label(k) for k, e in counts.items()]).where(*where)).one()
    got = dict(zip(counts, row, strict=True))
    values: dict[str, list[float]] = {k: [] for k in names}
    for r in session.execute(select(*[cast(case((durations[k][1], durations[k][0])), Float) for k in names])
                             .where(*where)):
        for k, v in zip(names, r, strict=True):
            if v is not None:
                values[k].append(round(v, 3))
    dists = {}
    for k, v in values.items():
        v.sort()
        dists[k] = Distribution(len(v), percentile(v, 0.5), percentile(v, 0.9))
    return got, dists


def service(session: Session, period: Period, scope: Scope) -> dict[str, Any]:
    """Waits, first response, length, who left unanswered, crises and their time to a human, survey.

    - wait: queued -> a counselor joined (claimed);
    - first response: queued -> the counselor's first message;
    - length: a counselor joined -> closed;
    - left before being answered: closed without a counselor ever joining, over those closed or answered;
    - crisis time to a human: flagged high/imminent -> a counselor joined (0 when one already was there);
      the share within 5 minutes counts crises nobody joined as not within.
    """
    _prepare(session)
    c = Consultation
    crisis = c.risk_rank >= 2
    to_human = _seconds(session, c.claimed_at, c.risk_flagged_at)
    counts = {
        "queued": func.count(), "answered": func.count(c.claimed_at),
        "left_unanswered": func.count().filter(c.claimed_at.is_(None), c.state == "closed"),
        "crises": func.count().filter(crisis), "unreached": func.count().filter(crisis, c.claimed_at.is_(None)),
        "within_5min": func.count().filter(crisis, c.claimed_at.is_not(None),
                                           or_(c.claimed_at <= c.risk_flagged_at, to_human <= CRISIS_FAST)),
        "asked": func.count().filter(c.close_reason == "counselor"),
        **{f"level_{lv}": func.count().filter(c.risk_level == lv) for lv in CRISIS_LEVELS},
        **{f"survey_{a}": func.count().filter(c.survey == a) for a in ("good", "ok", "bad")},
    }
    # (seconds, where it applies): the base rows all have queued_at
    durations = {
        "wait": (_seconds(session, c.claimed_at, c.queued_at), c.claimed_at.is_not(None)),
        "first_response": (_seconds(session, c.first_response_at, c.queued_at), c.first_response_at.is_not(None)),
        "length": (_seconds(session, c.closed_at, c.claimed_at),
                   and_(c.state == "closed", c.closed_at.is_not(None), c.claimed_at.is_not(None))),
        "crisis_to_human": (case((c.claimed_at <= c.risk_flagged_at, 0.0), else_=to_human),
                            and_(crisis, c.risk_flagged_at.is_not(None), c.claimed_at.is_not(None))),
    }
    n, d = _aggregate(session, _base(period, scope), counts, durations)
    out: dict[str, Any] = {k: d[k].as_dict() for k in ("wait", "first_response", "length")}
    out["queued"], out["answered"], out["left_unanswered"] = n["queued"], n["answered"], n["left_unanswered"]
    done = n["answered"] + n["left_unanswered"]
    out["left_share"] = round(n["left_unanswered"] / done, 4) if done else None
    out["crisis_by_level"] = {lv: n[f"level_{lv}"] for lv in CRISIS_LEVELS}
    out["crisis_to_human"] = {**d["crisis_to_human"].as_dict(), "crises": n["crises"], "unreached": n["unreached"],
                              "within_5min": n["within_5min"],
                              "share_within_5min": round(n["within_5min"] / n["crises"], 4) if n["crises"] else None}
    survey = {a: n[f"survey_{a}"] for a in ("good", "ok", "bad")}
    out["survey"] = {**survey, "asked": n["asked"], "answered": sum(survey.values())}
    return out


def outside_hours(session: Session, period: Period, scope: Scope) -> dict[str, int] | None:
    """Messages users sent while the service was closed (stored outside any consultation) and how many
    clients sent them. They belong to no member organization: given for the all-members scope only.
    Read from a partial index; the few training clients' messages are counted apart and taken off."""
    _prepare(session)
    if scope.organization_ids is not None:
        return None
    m = Message
    where = [m.consultation_id.is_(None), m.direction == "in", m.sender == "user", m.created_at >= period.start,
             m.created_at < period.end]
    figures = (func.count(), func.count(distinct(m.client_id)))
    training = m.client_id.in_(select(Client.id).where(Client.is_training))  # as the partial index says it
    t = session.execute(select(*figures).where(*where, training)).one()
    if scope.training == "only":
        messages, clients = t
    else:
        every = session.execute(select(*figures).where(*where)).one()
        messages, clients = every[0] - t[0], every[1] - t[1]
    return {"messages": messages, "clients": clients}


def load(session: Session, period: Period, scope: Scope) -> dict[str, list[dict[str, Any]]]:
    """Load per member organization (consultations, answered, left unanswered, crises) and per counselor
    (consultations held at the end, median length)."""
    _prepare(session)
    c = Consultation
    base = _base(period, scope)
    length = case((c.state == "closed", _seconds(session, c.closed_at, c.claimed_at)))
    left = and_(c.claimed_at.is_(None), c.state == "closed")
    per_org: dict[int, list[int]] = {}
    per_staff: dict[int, tuple[int, float | None]] = {}
    if _pg(session):
        # Two passes rather than one GROUPING SETS scan: the organizations' counts hash (no sort), and only
        # the counselors' lengths are sorted, for their medians (GROUPING SETS sorted every row twice and
        # took a median per organization nobody reads).
        for org, n, answered, n_left, crises in session.execute(
                select(c.organization_id, func.count(), func.count(c.claimed_at), func.count().filter(left),
                       func.count().filter(c.risk_rank >= 2)).where(*base).group_by(c.organization_id)):
            per_org[org] = [n, answered, n_left, crises]
        closed = and_(c.state == "closed", c.closed_at.is_not(None), c.claimed_at.is_not(None))
        for staff, n, median in session.execute(
                select(c.counselor_id, func.count(),
                       func.percentile_cont(0.5).within_group(_seconds(session, c.closed_at, c.claimed_at))
                       .filter(closed))
                .where(*base, c.counselor_id.is_not(None)).group_by(c.counselor_id)):
            per_staff[staff] = (n, None if median is None else float(median))
    else:
        lengths: dict[int, list[float]] = defaultdict(list)
        counted: dict[int, int] = defaultdict(int)
        for org, staff, claimed, is_left, crisis, d in session.execute(
                select(c.organization_id, c.counselor_id, c.claimed_at.is_not(None), left, c.risk_rank >= 2,
                       cast(length, Float)).where(*base)):
            row = per_org.setdefault(org, [0, 0, 0, 0])
            row[0] += 1
            row[1] += bool(claimed)
            row[2] += bool(is_left)
            row[3] += bool(crisis)
            if staff is not None:
                counted[staff] += 1
                if d is not None:
                    lengths[staff].append(round(d, 3))
        per_staff = {k: (n, percentile(sorted(lengths[k]), 0.5)) for k, n in counted.items()}
    orgs = {oid: (slug, name) for oid, slug, name in session.execute(
        select(Organization.id, Organization.slug, Organization.name).where(Organization.id.in_(list(per_org))))}
    org_rows = sorted(({"organization": orgs[o][0], "name": orgs[o][1], "consultations": v[0], "answered": v[1],
                        "left_unanswered": v[2], "crises": v[3]} for o, v in per_org.items()),
                      key=lambda r: r["organization"])
    people = {sid: (name, org) for sid, name, org in session.execute(
        select(Staff.id, Staff.display_name, Organization.slug)
        .join(Organization, Organization.id == Staff.organization_id).where(Staff.id.in_(list(per_staff))))}
    counselors = sorted(({"counselor": people[sid][0], "organization": people[sid][1], "consultations": n,
                          "median_length": _r(m)} for sid, (n, m) in per_staff.items()), key=lambda r: r["counselor"])
    return {"organizations": org_rows, "counselors": counselors}


# --- 3. chart series -------------------------------------------------------------------------------


def per_day(session: Session, period: Period, scope: Scope) -> list[tuple[date, int]]:
    _prepare(session)
    day = _local_day(session, Consultation.created_at, period)
    counts = {_to_date(d): n for d, n in session.execute(select(day, func.count()).where(*_base(period, scope))
                                                          .group_by(day))}
    return [(d, counts.get(d, 0)) for d in period.days]


def heatmap(session: Session, period: Period, scope: Scope) -> list[list[int]]:
    """Consultations by local weekday (0 = Monday) × hour: 7 rows of 24."""
    _prepare(session)
    local = _local(session, Consultation.created_at, period)
    if _pg(session):
        wd, hour = func.date_part("isodow", local) - 1, func.date_part("hour", local)  # float8, not numeric
    else:
        wd = (cast(func.strftime("%w", local), Float) + 6) % 7
        hour = cast(func.strftime("%H", local), Float)
    grid = [[0] * 24 for _ in range(7)]
    for w, h, n in session.execute(select(wd, hour, func.count()).where(*_base(period, scope)).group_by(wd, hour)):
        grid[int(w)][int(h)] = n
    return grid


def waits_over_time(session: Session, period: Period, scope: Scope) -> list[dict[str, Any]]:
    """Median and p90 wait until a counselor joined, per local day, or per week (starting Monday) for
    periods longer than two months; buckets without answered consultations are left out."""
    _prepare(session)
    offset = timedelta(minutes=period.offset_minutes)
    if (period.last_day - period.first_day).days > 62:
        if _pg(session):
            # Weeks from a local Monday midnight (3 January 2000): date_bin is integer arithmetic per row,
            # where converting each time to local and truncating it cost a quarter of the query.
            monday = datetime(2000, 1, 3, tzinfo=UTC) - offset
            bucket = func.date_bin(literal_column("interval '7 days'"), Consultation.created_at, monday)
        else:
            bucket = func.date(_local(session, Consultation.created_at, period), "weekday 0", "-6 days")
    else:
        bucket = _local_day(session, Consultation.created_at, period)
    found = _distributions(session, bucket, _seconds(session, Consultation.claimed_at, Consultation.queued_at),
                           _base(period, scope), applies=Consultation.claimed_at.is_not(None))

    def day(k: Any) -> date:
        return (k.astimezone(UTC) + offset).date() if isinstance(k, datetime) else _to_date(k)

    return [{"day": day(k), **dist.as_dict()} for k, dist in sorted(found.items(), key=lambda kv: day(kv[0]))]


# --- 4. export of one row per consultation ---------------------------------------------------------

EXPORT_COLUMNS = ("client_key", "consultation_key", "organization", "created_at", "queued_at", "claimed_at",
                  "first_response_at", "closed_at", "wait_seconds", "who", "age_band", "area", "concern",
                  "returning", "risk_level", "crisis", "disposition", "referral", "referral_category",
                  "close_reason", "survey", "milestones", "training")


def pseudonymous_key(key: bytes, kind: str, ident: int) -> str:
    """A stable key for the export (the same client across exports), not the console pseudonym."""
    return hmac.new(key, f"{kind}:{ident}".encode(), hashlib.sha256).hexdigest()[:16]


def export_consultations(session: Session, period: Period, scope: Scope, key: bytes) -> Iterator[dict[str, Any]]:
    """One row per consultation: codes, local times and flags. Never message text, note text or a LINE ID
    (nothing here selects them)."""
    _prepare(session)
    c = Consultation
    tz = ZoneInfo(period.zone)
    returning = c.client_first_queued_at < c.created_at  # an earlier queued consultation (storage/rollups.py)
    ms_rows = session.execute(select(Milestone.consultation_id, Milestone.kind, Milestone.next_step)
                              .join(c, c.id == Milestone.consultation_id).where(*_base(period, scope)))
    ms: dict[int, list[str]] = defaultdict(list)
    for cid, kind, step in ms_rows:
        ms[cid].append(f"{kind}:{step}" if step else kind)
    stmt = (select(c.id, c.client_id, Organization.slug, c.created_at, c.queued_at, c.claimed_at, c.first_response_at,
                   c.closed_at, c.who, c.age_band, c.area, c.concern, returning, c.risk_level, c.disposition,
                   c.referral, c.close_reason, c.survey, c.is_training)
            .join(Organization, Organization.id == c.organization_id).where(*_base(period, scope)).order_by(c.id)
            .execution_options(yield_per=5000))

    def local(v: datetime | None) -> str:
        return v.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if v else ""

    for (cid, client_id, org, created, queued, claimed, first, closed, who, age, area, concern, ret, risk, disp, ref,
         reason, survey, training) in session.execute(stmt):
        yield {
            "client_key": pseudonymous_key(key, "client", client_id),
            "consultation_key": pseudonymous_key(key, "consultation", cid),
            "organization": org, "created_at": local(created), "queued_at": local(queued),
            "claimed_at": local(claimed), "first_response_at": local(first), "closed_at": local(closed),
            "wait_seconds": int((claimed - queued).total_seconds()) if claimed and queued else "",
            "who": who or "", "age_band": age or "", "area": area or "", "concern": concern or "",
            "returning": int(bool(ret)), "risk_level": risk, "crisis": int(risk in ("high", "imminent")),
            "disposition": disp or "", "referral": ref or "",
            "referral_category": REFERRAL_CATEGORIES.get(ref, "other") if ref else "",
            "close_reason": reason or "", "survey": survey or "", "milestones": ";".join(sorted(ms.get(cid, []))),
            "training": int(bool(training)),
        }


def dashboard(session: Session, period: Period, scope: Scope) -> dict[str, Any]:
    """Every figure family at once (what the page, the CLI and the aggregate export show)."""
    return {
        "friends": friends(session, period, scope), "consultations": consultations(session, period, scope),
        "referrals": referrals(session, period, scope), "milestones": milestones(session, period, scope),
        "labels": labels(session, period, scope), "service": service(session, period, scope),
        "outside_hours": outside_hours(session, period, scope),
        "load": load(session, period, scope), "per_day": per_day(session, period, scope),
        "heatmap": heatmap(session, period, scope), "waits_over_time": waits_over_time(session, period, scope),
    }


DASHBOARD_QUERIES = ("friends", "consultations", "referrals", "milestones", "labels", "service", "outside_hours",
                     "load", "per_day", "heatmap", "waits_over_time")
