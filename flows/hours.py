"""Service hours: windows in the service's time zone (over midnight allowed), `always`, closed dates."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Window:
    start: time
    end: time  # end <= start means the window runs past midnight

    def label(self) -> str:
        return f"{self.start:%H:%M}〜{self.end:%H:%M}"


@dataclass(frozen=True)
class ServiceHours:
    windows: tuple[Window, ...]  # empty = always open
    tz: ZoneInfo
    closed_dates: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, spec: str, tz: str = "Asia/Tokyo", closed_dates: Iterable[date] = ()) -> ServiceHours:
        spec = spec.strip().lower()
        zone = ZoneInfo(tz)
        if spec in ("always", "24h", "24/7"):
            return cls((), zone, frozenset(closed_dates))
        windows = []
        for part in spec.replace("，", ",").split(","):
            m = _WINDOW.match(part.strip().replace("〜", "-").replace("~", "-"))
            if not m:
                raise ValueError(f"SERVICE_HOURS: cannot read {part!r}; use HH:MM-HH:MM[,HH:MM-HH:MM] or 'always'")
            h1, m1, h2, m2 = (int(x) for x in m.groups())
            if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
                raise ValueError(f"SERVICE_HOURS: {part!r} is not a time of day")
            start, end = time(h1, m1), (time(0, 0) if h2 == 24 else time(h2, m2))
            if start == end:
                raise ValueError(f"SERVICE_HOURS: {part!r} is empty; use 'always' for all day")
            windows.append(Window(start, end))
        return cls(tuple(windows), zone, frozenset(closed_dates))

    @property
    def always(self) -> bool:
        return not self.windows

    def label(self) -> str:
        if self.always:
            return "24時間"
        return "毎日 " + "、".join(w.label() for w in self.windows)

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        if self.always:
            return local.date() not in self.closed_dates
        for w in self.windows:
            t = local.time()
            if w.start < w.end:
                if w.start <= t < w.end and local.date() not in self.closed_dates:
                    return True
            else:
                # Past midnight the session belongs to the day it started on.
                if t >= w.start and local.date() not in self.closed_dates:
                    return True
                if t < w.end and (local.date() - timedelta(days=1)) not in self.closed_dates:
                    return True
        return False

    def next_opening(self, now: datetime) -> datetime | None:
        """The next moment the service opens (aware, service zone); None when open or never opens."""
        if self.is_open(now):
            return None
        local = now.astimezone(self.tz)
        candidates = []
        for day_offset in range(0, 400):
            day = local.date() + timedelta(days=day_offset)
            if day in self.closed_dates:
                continue
            starts = [time(0, 0)] if self.always else [w.start for w in self.windows]
            for start in starts:
                at = datetime.combine(day, start, tzinfo=self.tz)
                if at > local:
                    candidates.append(at)
            if candidates:
                return min(candidates)
        return None

    def describe_next_opening(self, now: datetime) -> str:
        """「今日の16:00」「明日（11月24日）の16:00」「11月26日（木）の16:00」: wording for every after-hours
        reply. Closed dates (holidays) are skipped, so the day named is the day it really opens."""
        at = self.next_opening(now)
        if at is None:
            return "受付時間内"
        return describe_moment(at, now.astimezone(self.tz).date())

    def open_span(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The stretch of opening hours `now` falls in, as (opened at, closes at) in the service zone:
        windows that touch or overlap are one stretch (16:00-18:00 and 18:00-21:00 close at 21:00), split
        windows are separate stretches, a window over midnight belongs to the day it starts on, and closed
        dates have none. None when closed now. With `always`, a stretch ends only at a closed date (looked
        for up to two weeks ahead)."""
        if not self.is_open(now):
            return None
        local = now.astimezone(self.tz)
        spans = sorted(self._intervals(local.date() - timedelta(days=1), local.date() + timedelta(days=15)))
        merged: list[list[datetime]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            if start <= local < end:
                return start, end
        return None

    def _intervals(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        out = []
        day = first
        while day <= last:
            if day not in self.closed_dates:
                if self.always:
                    out.append((datetime.combine(day, time(0, 0), tzinfo=self.tz),
                                datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=self.tz)))
                for w in self.windows:
                    start = datetime.combine(day, w.start, tzinfo=self.tz)
                    end_day = day if w.start < w.end else day + timedelta(days=1)
                    out.append((start, datetime.combine(end_day, w.end, tzinfo=self.tz)))
            day += timedelta(days=1)
        return out


WEEKDAYS = "月火水木金土日"


def describe_moment(at: datetime, today: date) -> str:
    """A moment as people say it: 「今日の16:00」「明日（11月24日）の16:00」「11月26日（木）の16:00」."""
    days = (at.date() - today).days
    if days == 0:
        when = "今日"
    elif days == 1:
        when = f"明日（{at.month}月{at.day}日）"
    else:
        when = f"{at.month}月{at.day}日（{WEEKDAYS[at.weekday()]}）"
    return f"{when}の{at:%H:%M}"
