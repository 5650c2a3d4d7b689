"""The emergency contacts (emergency_contacts.toml, which coordinators edit) and the short bubbles the
bot sends a person at risk: first 119/110 and one line to call now, then the lines open at this very
moment, then (for a family member) what to do. The words are in flows/texts.py.

Pure: the caller passes the moment and the zone; nothing here reads a clock.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from flows import texts

DEFAULT_PATH = Path(__file__).with_name("emergency_contacts.toml")
REQUIRED = ("name", "for", "source")
AUDIENCES = ("self", "family")

_DAILY = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_MONTHLY = re.compile(r"^day(\d{1,2})\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Window:
    """Open from `start` for `length`, every day (day=None) or on one day of each month."""

    start: time
    length: timedelta
    day: int | None = None

    def covers(self, local: datetime) -> bool:
        # A window belongs to the day it starts on; one that started yesterday may still be open.
        for back in (0, 1):
            day = local.date() - timedelta(days=back)
            if self.day is not None and day.day != self.day:
                continue
            begin = datetime.combine(day, self.start, tzinfo=local.tzinfo)
            if begin <= local < begin + self.length:
                return True
        return False


ALWAYS = Window(time(0, 0), timedelta(days=1))


@dataclass(frozen=True)
class Line:
    number: str
    hours: str  # what people read
    windows: tuple[Window, ...] | None  # None: hours we cannot state
    note: str = ""

    def open_at(self, local: datetime) -> bool | None:
        """True/False, or None when the hours are unknown."""
        if self.windows is None:
            return None
        return any(w.covers(local) for w in self.windows)


@dataclass(frozen=True)
class Contact:
    name: str
    purpose: str
    source: str
    lines: tuple[Line, ...]
    audience: frozenset[str]
    emergency: bool = False


@dataclass(frozen=True)
class Contacts:
    contacts: tuple[Contact, ...]


def _span(h1: str, m1: str, h2: str, m2: str, spec: str) -> tuple[time, timedelta]:
    a, b = (int(h1), int(m1)), (int(h2), int(m2))
    if a[0] > 23 or b[0] > 24 or a[1] > 59 or b[1] > 59:
        raise ValueError(f"not a time of day: {spec!r}")
    start = a[0] * 60 + a[1]
    end = b[0] * 60 + b[1]
    minutes = end - start if end > start else end + 24 * 60 - start  # end <= start: runs past midnight
    return time(*a), timedelta(minutes=minutes)


def parse_window(spec: str) -> Window:
    spec = spec.strip().lower()
    if spec in ("always", "24h"):
        return ALWAYS
    m = _MONTHLY.match(spec)
    if m:
        day = int(m.group(1))
        if not 1 <= day <= 31:
            raise ValueError(f"not a day of the month: {spec!r}")
        start, length = _span(*m.groups()[1:], spec=spec)
        return Window(start, length, day)
    m = _DAILY.match(spec)
    if m:
        start, length = _span(*m.groups(), spec=spec)
        return Window(start, length)
    raise ValueError(f"cannot read opening hours {spec!r}; use 'always', 'HH:MM-HH:MM' or 'dayN HH:MM-HH:MM'")


def load_contacts(path: Path | str | None = None) -> Contacts:
    data = tomllib.loads(Path(path or DEFAULT_PATH).read_text(encoding="utf-8"))
    problems: list[str] = []
    contacts = []
    for i, c in enumerate(data.get("contacts", [])):
        where = f"contact {i + 1} ({c.get('name', '?')})"
        missing = [k for k in REQUIRED if not str(c.get(k, "")).strip()]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        audience = frozenset(c.get("audience") or AUDIENCES)
        if not audience <= set(AUDIENCES):
            problems.append(f"{where}: audience must be among {AUDIENCES}")
        lines = []
        for j, line in enumerate(c.get("lines", [])):
            if not str(line.get("number", "")).strip() or not str(line.get("hours", "")).strip():
                problems.append(f"{where} line {j + 1}: number and hours are required")
                continue
            try:
                windows = tuple(parse_window(s) for s in line["open"]) if "open" in line else None
            except ValueError as exc:
                problems.append(f"{where} line {j + 1}: {exc}")
                continue
            lines.append(Line(line["number"], line["hours"], windows, line.get("note", "")))
        if not lines:
            problems.append(f"{where}: no lines")
            continue
        contacts.append(Contact(c["name"], c["for"], c["source"], tuple(lines), audience, bool(c.get("emergency"))))
    numbers = {ln.number for c in contacts if c.emergency for ln in c.lines}
    if not {"119", "110"} <= numbers:
        problems.append("119 and 110 must be listed as emergency contacts")
    if problems:
        raise ValueError("emergency_contacts.toml: " + "; ".join(problems))
    return Contacts(tuple(contacts))


@lru_cache(maxsize=1)
def default_contacts() -> Contacts:
    return load_contacts()


def lines_open_now(now: datetime, tz: ZoneInfo, *, service_open: bool, audience: str = "self",
                   contacts: Contacts | None = None) -> list[tuple[Contact, tuple[Line, ...]]]:
    """The non-emergency lines a person can call at `now`, by contact. A line whose hours we cannot
    state is named only while the service itself is open (never promised at night)."""
    local = now.astimezone(tz)
    found = []
    for contact in (contacts or default_contacts()).contacts:
        if contact.emergency or audience not in contact.audience:
            continue
        usable = tuple(ln for ln in contact.lines
                       if ln.open_at(local) or (ln.open_at(local) is None and service_open))
        if usable:
            found.append((contact, usable))
    return found


def _lines_bubble(found: list[tuple[Contact, tuple[Line, ...]]], heading: str) -> str:
    rows = [heading]
    for contact, lines in found:
        for ln in lines:
            extra = f"（{ln.note}）" if ln.note else ""
            rows.append(f"■{contact.name}　{ln.number}{extra}")
            rows.append(f"　{ln.hours}｜{contact.purpose}")
    return "\n".join(rows)


def lines_text(now: datetime, tz: ZoneInfo, heading: str, *, service_open: bool, audience: str = "self",
               contacts: Contacts | None = None) -> str | None:
    """One bubble naming the lines open at `now` under `heading` (None when none is open): for the
    evening's kind close and the rich menu's 緊急の連絡先, as well as the crisis bubbles."""
    found = lines_open_now(now, tz, service_open=service_open, audience=audience, contacts=contacts)
    return _lines_bubble(found, heading) if found else None


def crisis_bubbles(level: object, now: datetime, tz: ZoneInfo, *, service_open: bool, about_other: bool = False,
                   contacts: Contacts | None = None) -> list[str]:
    """The emergency message as short bubbles, in order: 119/110 and one line to call now; (family:
    what to do for the one at risk); the lines open now. The status bubble (queued / outside hours)
    is added by the caller."""
    level_value = getattr(level, "value", level)
    if about_other:
        first = texts.CRISIS_FIRST_FAMILY
    else:
        first = texts.CRISIS_FIRST_IMMINENT if level_value == "imminent" else texts.CRISIS_FIRST_HIGH
    bubbles = [first]
    if about_other:
        bubbles.append(texts.CRISIS_FAMILY_WHAT_TO_DO)
    found = lines_open_now(now, tz, service_open=service_open, audience="family" if about_other else "self",
                           contacts=contacts)
    if found:
        heading = texts.CRISIS_LINES_HEADING_FAMILY if about_other else texts.CRISIS_LINES_HEADING
        bubbles.append(_lines_bubble(found, heading))
    return bubbles
