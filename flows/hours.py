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
        """「今日の16:00」「明日（11月24日）の16:00」: wording for the closed-hours reply."""
        at = self.next_opening(now)
        if at is None:
            return "受付時間内"
        today = now.astimezone(self.tz).date()
        days = (at.date() - today).days
        when = {0: "今日", 1: "明日"}.get(days, f"{at.month}月{at.day}日")
        if days == 1:
            when = f"明日（{at.month}月{at.day}日）"
        return f"{when}の{at:%H:%M}"
