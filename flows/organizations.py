"""The consortium as data: member organizations, when each is staffed, and the routing rules.

A consortium file (TOML, reviewable by non-programmers) holds `[[organization]]` tables and `[[route]]`
rules; `tsunagu orgs load FILE.toml` checks the whole file (every problem listed, nothing written when
there is one) and then applies it: loading the same file twice changes nothing. The sample consortium of
fictional members ships as `flows/consortium.sample.toml`.

The small API other parts use (the evening clock, the routing, the console), stable:

- `evenings_of(org) -> Evenings`: an organization's staffed evenings (weekdays + windows, split evenings,
  closed dates) as a value;
- `is_staffed(org, now, tz=...) -> bool`: is this active organization staffed at `now`;
- `staffed_until(org, now, tz=...) -> datetime | None`: when tonight's staffed window ends (None: not staffed);
- `next_staffed(org, now, tz=...) -> datetime | None`: the next moment it starts being staffed;
- `next_opening(orgs, now, tz=...) -> datetime | None`: the consortium-wide next opening, the earliest
  `next_staffed` of the active members (None while one of them is staffed, or when none ever is);
- `members(session)`, `staffed_members(session, now, tz=...)`, `consortium_next_opening(session, now, tz=...)`:
  the same over the members in the database (the shared queue is not a member).

Evenings are read in the service time zone (`SERVICE_TIMEZONE`, passed as `tz`). A window whose end is
not after its start runs past midnight and belongs to the evening (weekday, date) it started on.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from flows import texts
from flows.hours import ServiceHours, Window
from storage import organizations as org_repo
from storage.models import Organization

SAMPLE_FILE = Path(__file__).with_name("consortium.sample.toml")
DEFAULT_TZ = ZoneInfo("Asia/Tokyo")
KINDS = ("family_association", "npo", "regional_center", "youth_support_station", "peer_group", "ibasho", "other")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_LABELS = ("月", "火", "水", "木", "金", "土", "日")
_WEEKDAY_NAMES = {**{d: i for i, d in enumerate(WEEKDAYS)}, **{d: i for i, d in enumerate(WEEKDAY_LABELS)},
                  **{d + "曜": i for i, d in enumerate(WEEKDAY_LABELS)}}
# What an organization takes (and a routing rule matches): intake answer codes; empty = any.
TAKES_KEYS: dict[str, Mapping[str, str] | None] = {
    "who": texts.WHO_LABELS, "age_bands": texts.AGE_LABELS, "areas": None, "concerns": texts.CONCERN_LABELS,
}
RULE_KEYS: dict[str, Mapping[str, str] | None] = {**TAKES_KEYS, "topics": {
    "work": "", "family": "", "money": "", "health": "", "belonging": "", "violence": ""}}
ANSWER_OF = {"who": "who", "age_bands": "age_band", "areas": "area", "concerns": "concern"}
REFERRAL_KEYS = ("what", "contact", "hours", "url")
ORG_KEYS = {"slug", "name", "kind", "takes", "evenings", "closed", "capacity", "active", "referral"}
SLUG_MAX = 40


# --- evenings --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evening:
    """Some weekdays and the windows staffed on them (two windows = a split evening)."""

    weekdays: frozenset[int]
    windows: tuple[Window, ...]

    def label(self) -> str:
        days = "・".join(WEEKDAY_LABELS[d] for d in sorted(self.weekdays))
        return f"{days} " + "、".join(w.label() for w in self.windows)


@dataclass(frozen=True)
class Evenings:
    rules: tuple[Evening, ...] = ()
    closed: frozenset[date] = frozenset()

    def spans(self, day: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The staffed (start, end) spans of the evening that starts on `day` (none on a closed date)."""
        if day in self.closed:
            return []
        out = []
        for rule in self.rules:
            if day.weekday() not in rule.weekdays:
                continue
            for w in rule.windows:
                start = datetime.combine(day, w.start, tzinfo=tz)
                end_day = day if w.start < w.end else day + timedelta(days=1)
                out.append((start, datetime.combine(end_day, w.end, tzinfo=tz)))
        return sorted(out)

    def current_span(self, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
        local = now.astimezone(tz)
        for day in (local.date() - timedelta(days=1), local.date()):
            for start, end in self.spans(day, tz):
                if start <= local < end:
                    return start, end
        return None

    def next_start(self, now: datetime, tz: ZoneInfo, horizon_days: int = 400) -> datetime | None:
        local = now.astimezone(tz)
        for offset in range(horizon_days):
            for start, _ in self.spans(local.date() + timedelta(days=offset), tz):
                if start > local:
                    return start
        return None

    def label(self) -> str:
        return " / ".join(r.label() for r in self.rules) or "—"


def parse_evening_rules(raw: Any, where: str, problems: list[str]) -> tuple[Evening, ...]:
    """`[{weekdays = ["mon", ...], hours = ["16:00-18:00", "19:00-21:00"]}, ...]`, every problem listed."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where}: evenings must be a list of {{weekdays = [...], hours = [...]}}")
        return ()
    out = []
    for i, item in enumerate(raw):
        at = f"{where}.evenings[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: expected a table with weekdays and hours")
            continue
        unknown = set(item) - {"weekdays", "hours"}
        if unknown:
            problems.append(f"{at}: unknown key(s) {', '.join(sorted(unknown))}")
        days = item.get("weekdays")
        hours = item.get("hours")
        weekdays: set[int] = set()
        if not isinstance(days, list) or not days:
            problems.append(f"{at}.weekdays: a non-empty list such as [\"mon\", \"wed\"]")
        else:
            for d in days:
                if not isinstance(d, str) or d.strip().lower() not in _WEEKDAY_NAMES:
                    problems.append(f"{at}.weekdays: {d!r} is not a weekday ({', '.join(WEEKDAYS)})")
                else:
                    weekdays.add(_WEEKDAY_NAMES[d.strip().lower()])
        windows: list[Window] = []
        if not isinstance(hours, list) or not hours:
            problems.append(f"{at}.hours: a non-empty list such as [\"16:00-21:00\"]")
        else:
            for h in hours:
                try:
                    parsed = ServiceHours.parse(str(h)) if isinstance(h, str) else None
                except ValueError:
                    parsed = None
                if parsed is None or parsed.always or len(parsed.windows) != 1:
                    problems.append(f"{at}.hours: {h!r} is not a window HH:MM-HH:MM")
                else:
                    windows.append(parsed.windows[0])
        if weekdays and windows:
            out.append(Evening(frozenset(weekdays), tuple(windows)))
    return tuple(out)


def parse_dates(raw: Any, where: str, problems: list[str]) -> frozenset[date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        problems.append(f"{where}: closed must be a list of dates")
        return frozenset()
    out = set()
    for d in raw:
        if isinstance(d, date) and not isinstance(d, datetime):
            out.add(d)
            continue
        try:
            out.add(date.fromisoformat(str(d)))
        except ValueError:
            problems.append(f"{where}: {d!r} is not a date (YYYY-MM-DD)")
    return frozenset(out)


def evenings_of(org: Organization) -> Evenings:
    """The organization's evenings as stored (the loader and the console checked them)."""
    problems: list[str] = []
    rules = parse_evening_rules(org.evenings or [], org.slug, problems)
    return Evenings(rules, parse_dates(org.closed_dates or [], org.slug, problems))


def is_staffed(org: Organization, now: datetime, tz: ZoneInfo = DEFAULT_TZ) -> bool:
    return bool(org.active) and evenings_of(org).current_span(now, tz) is not None


def staffed_until(org: Organization, now: datetime, tz: ZoneInfo = DEFAULT_TZ) -> datetime | None:
    if not org.active:
        return None
    span = evenings_of(org).current_span(now, tz)
    return span[1] if span else None


def next_staffed(org: Organization, now: datetime, tz: ZoneInfo = DEFAULT_TZ) -> datetime | None:
    return evenings_of(org).next_start(now, tz) if org.active else None


def next_opening(orgs: Iterable[Organization], now: datetime, tz: ZoneInfo = DEFAULT_TZ) -> datetime | None:
    """The consortium-wide next opening: None while some member is staffed (or none ever will be)."""
    members = [o for o in orgs if o.active]
    if any(is_staffed(o, now, tz) for o in members):
        return None
    starts = [s for s in (next_staffed(o, now, tz) for o in members) if s is not None]
    return min(starts) if starts else None


def members(session: Session) -> list[Organization]:
    """The member organizations (the shared queue, the default organization, is not a member)."""
    return [o for o in org_repo.all_organizations(session) if not o.is_default]


def staffed_members(session: Session, now: datetime, tz: ZoneInfo = DEFAULT_TZ) -> list[Organization]:
    return [o for o in members(session) if is_staffed(o, now, tz)]


def consortium_next_opening(session: Session, now: datetime, tz: ZoneInfo = DEFAULT_TZ) -> datetime | None:
    """`next_opening` over the members in the database (None while one is staffed, or with no evenings)."""
    return next_opening(members(session), now, tz)


# --- the consortium file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgSpec:
    slug: str
    name: str
    kind: str
    takes: dict[str, list[str]]
    evenings: list[dict[str, list[str]]]
    closed_dates: list[str]
    capacity: int | None
    active: bool
    referral: dict[str, str]

    def columns(self) -> dict[str, Any]:
        """The organization's stored columns (JSON-ready, in a canonical form so reloads compare equal)."""
        return {"name": self.name, "kind": self.kind, "takes": self.takes, "evenings": self.evenings,
                "closed_dates": self.closed_dates, "capacity": self.capacity, "active": self.active,
                "referral_card": self.referral}


@dataclass(frozen=True)
class RuleSpec:
    name: str
    when: dict[str, list[str]]
    to: list[str]


@dataclass(frozen=True)
class Consortium:
    organizations: tuple[OrgSpec, ...]
    rules: tuple[RuleSpec, ...]


class ConsortiumFileError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("the consortium file was not loaded:\n  - " + "\n  - ".join(problems))
        self.problems = problems


def _code_list(raw: Any, key: str, allowed: Mapping[str, str] | None, where: str, problems: list[str]) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        problems.append(f"{where}.{key}: a list of codes (empty means any)")
        return []
    values = [v.strip() for v in raw]
    if allowed is not None:
        for v in values:
            if v not in allowed:
                problems.append(f"{where}.{key}: unknown code {v!r} (one of {', '.join(allowed)})")
    return sorted(set(values))


def _conditions(raw: Any, keys: Mapping[str, Mapping[str, str] | None], where: str,
                problems: list[str]) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table ({', '.join(keys)})")
        return {}
    unknown = set(raw) - set(keys)
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(keys)})")
    out = {k: _code_list(raw.get(k), k, allowed, where, problems) for k, allowed in keys.items()}
    return {k: v for k, v in out.items() if v}


def canonical_evenings(rules: Sequence[Evening]) -> list[dict[str, list[str]]]:
    return [{"weekdays": [WEEKDAYS[d] for d in sorted(r.weekdays)],
             "hours": [f"{w.start:%H:%M}-{w.end:%H:%M}" for w in r.windows]} for r in rules]


def parse_organization(raw: Any, where: str, problems: list[str]) -> OrgSpec | None:
    """One `[[organization]]` table (also what the console's edit form builds); None when unusable."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table")
        return None
    before = len(problems)
    unknown = set(raw) - ORG_KEYS
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    slug = raw.get("slug")
    if not isinstance(slug, str) or not slug or len(slug) > SLUG_MAX or not all(
            c.isascii() and (c.isalnum() or c in "-_") for c in slug) or slug != slug.lower():
        problems.append(f"{where}.slug: lower-case letters, digits, - and _ (at most {SLUG_MAX})")
        slug = str(slug)
    where = f"organization {slug!r}"
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(f"{where}.name: required, at most 200 characters")
        name = ""
    kind = raw.get("kind", "other")
    if kind not in KINDS:
        problems.append(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    capacity = raw.get("capacity")
    if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1):
        problems.append(f"{where}.capacity: a whole number of consultations at once (at least 1), or leave it out")
        capacity = None
    active = raw.get("active", True)
    if not isinstance(active, bool):
        problems.append(f"{where}.active: true or false")
    takes = _conditions(raw.get("takes"), TAKES_KEYS, f"{where}.takes", problems)
    evenings = parse_evening_rules(raw.get("evenings"), where, problems)
    closed = parse_dates(raw.get("closed"), f"{where}.closed", problems)
    referral_raw = raw.get("referral") or {}
    referral: dict[str, str] = {}
    if not isinstance(referral_raw, dict):
        problems.append(f"{where}.referral: a table with {', '.join(REFERRAL_KEYS)}")
    else:
        unknown = set(referral_raw) - set(REFERRAL_KEYS)
        if unknown:
            problems.append(f"{where}.referral: unknown key(s) {', '.join(sorted(unknown))}")
        for k in REFERRAL_KEYS:
            v = referral_raw.get(k)
            if v is None:
                continue
            if not isinstance(v, str) or len(v) > 400:
                problems.append(f"{where}.referral.{k}: text of at most 400 characters")
            elif v.strip():
                referral[k] = v.strip()
        if referral and not ({"what", "contact"} <= set(referral)):
            problems.append(f"{where}.referral: a card needs at least what and contact")
        if referral.get("url") and not referral["url"].startswith("https://"):
            problems.append(f"{where}.referral.url: must start with https://")
    if len(problems) > before:
        return None
    return OrgSpec(slug=slug, name=name.strip(), kind=kind, takes=takes, evenings=canonical_evenings(evenings),
                   closed_dates=sorted(d.isoformat() for d in closed), capacity=capacity, active=active,
                   referral=referral)


def parse_consortium(source: str, *, known_slugs: Iterable[str] = ()) -> Consortium:
    """Read a consortium file; raise ConsortiumFileError listing every problem (nothing is half-read).

    `known_slugs`: organizations already in the database, which rules may name besides the file's own."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise ConsortiumFileError([f"not valid TOML: {exc}"]) from None
    problems: list[str] = []
    unknown = set(data) - {"organization", "route", "consortium"}
    if unknown:
        problems.append(f"unknown top-level key(s) {', '.join(sorted(unknown))} (organization, route)")
    raw_orgs = data.get("organization", [])
    if not isinstance(raw_orgs, list):
        problems.append("organization: use [[organization]] tables")
        raw_orgs = []
    orgs: list[OrgSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_orgs):
        spec = parse_organization(raw, f"organization #{i + 1}", problems)
        slug = raw.get("slug") if isinstance(raw, dict) else None
        if isinstance(slug, str) and slug in seen:
            problems.append(f"organization {slug!r}: appears twice")
        if isinstance(slug, str):
            seen.add(slug)
        if spec is not None:
            orgs.append(spec)
    raw_rules = data.get("route", [])
    if not isinstance(raw_rules, list):
        problems.append("route: use [[route]] tables")
        raw_rules = []
    names = set(seen) | set(known_slugs)
    rules: list[RuleSpec] = []
    rule_names: set[str] = set()
    for i, raw in enumerate(raw_rules):
        where = f"route #{i + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a table with name, when, to")
            continue
        unknown = set(raw) - {"name", "when", "to"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 120:
            problems.append(f"{where}.name: required, at most 120 characters")
            name = where
        elif name in rule_names:
            problems.append(f"{where}.name: {name!r} appears twice")
        rule_names.add(name)
        when = _conditions(raw.get("when"), RULE_KEYS, f"{where}.when", problems)
        to = raw.get("to")
        if not isinstance(to, list) or not to or not all(isinstance(s, str) for s in to):
            problems.append(f"{where}.to: a non-empty list of organization slugs, first choice first")
            to = []
        for s in to:
            if s not in names:
                problems.append(f"{where}.to: no organization {s!r} in the file or the database")
        if len(set(to)) != len(to):
            problems.append(f"{where}.to: an organization is listed twice")
        rules.append(RuleSpec(name=name, when=when, to=list(to)))
    if problems:
        raise ConsortiumFileError(problems)
    return Consortium(tuple(orgs), tuple(rules))


@dataclass
class LoadReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rules_changed: bool = False
    rules: int = 0

    @property
    def changes(self) -> bool:
        return bool(self.added or self.changed or self.rules_changed)

    def summary(self) -> str:
        if not self.changes:
            return f"no change ({len(self.unchanged)} organizations, {self.rules} routing rules as loaded before)"
        parts = []
        if self.added:
            parts.append("added: " + ", ".join(self.added))
        if self.changed:
            parts.append("changed: " + ", ".join(self.changed))
        parts.append(f"routing rules: {self.rules}" + (" (replaced)" if self.rules_changed else " (unchanged)"))
        return "; ".join(parts)


def apply(session: Session, consortium: Consortium, now: datetime) -> LoadReport:
    """Write a checked consortium: organizations upserted by slug (others left as they are), the rules
    replaced by the file's. Only what differs is written, so applying the same file again changes nothing."""
    report = LoadReport(rules=len(consortium.rules))
    for spec in consortium.organizations:
        outcome = org_repo.upsert(session, spec.slug, spec.columns(), now)
        {"added": report.added, "changed": report.changed, "unchanged": report.unchanged}[outcome].append(spec.slug)
    report.rules_changed = org_repo.replace_rules(
        session, [(r.name, r.when, r.to) for r in consortium.rules], now)
    return report


def load_file(session: Session, path: str | Path, now: datetime) -> LoadReport:
    """`tsunagu orgs load`: check the whole file, then apply it in the caller's transaction."""
    source = Path(path).read_text(encoding="utf-8")
    known = {o.slug for o in org_repo.all_organizations(session)}
    return apply(session, parse_consortium(source, known_slugs=known), now)


def load_sample(session: Session, now: datetime) -> LoadReport:
    return load_file(session, SAMPLE_FILE, now)


def referral_card(org: Organization) -> dict[str, str] | None:
    """The organization's card (what, contact, hours, url) with its name, or None without one."""
    card = dict(org.referral_card or {})
    if not card.get("what") or not card.get("contact"):
        return None
    return {"name": org.name, **card}


# --- the console's edit form: evenings as lines of text --------------------------------------------


def evenings_from_text(text: str) -> list[dict[str, list[str]]]:
    """「mon,wed,fri 16:00-21:00」 or 「月水金 16:00-18:00,19:00-21:00」, one evening rule a line, into the
    file's shape (checked by `parse_organization` like the file itself)."""
    rules = []
    for line in text.replace("〜", "-").replace("～", "-").replace("、", ",").splitlines():
        parts = line.replace("，", ",").split()
        if not parts:
            continue
        days_part, hours = parts[0], [h for p in parts[1:] for h in p.split(",") if h]
        if all(ch in "".join(WEEKDAY_LABELS) + "・," for ch in days_part):
            days = [ch for ch in days_part if ch in WEEKDAY_LABELS]
        else:
            days = [d for d in days_part.replace("・", ",").split(",") if d]
        rules.append({"weekdays": days, "hours": hours})
    return rules


def evenings_to_text(evenings: list[Any]) -> str:
    return "\n".join(f"{','.join(r.get('weekdays', []))} {','.join(r.get('hours', []))}" for r in evenings or [])
