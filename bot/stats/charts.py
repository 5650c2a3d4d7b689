"""Charts as server-rendered SVG: nothing from a CDN, no script, no inline style (CSP-safe). Colours
and sizes are SVG presentation attributes; each mark carries a <title> for a hover label."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

GREEN = "#2e7d5b"
GREY = "#9e9e9e"
RED = "#b00020"


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
                  f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
                  + "".join(body) + "</svg>")


def _text(x: float, y: float, s: str, *, size: int = 11, anchor: str = "start", fill: str = "#444") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">{escape(s)}</text>'


def daily_bars(points: Sequence[tuple[date, int | str]], label: str) -> Markup:
    """Consultations per day. Suppressed counts ("<5") are drawn as short grey bars."""
    width, height, left, bottom, top = 900, 220, 40, 30, 10
    numeric = [v if isinstance(v, int) else 4 for _, v in points]
    peak = max([*numeric, 1])
    step = (width - left - 10) / max(1, len(points))
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
            _text(left - 4, top + 8, str(peak), anchor="end"), _text(left - 4, height - bottom, "0", anchor="end")]
    for i, (day, v) in enumerate(points):
        n = numeric[i]
        h = (height - bottom - top) * n / peak
        x = left + i * step
        colour = GREEN if isinstance(v, int) else GREY
        body.append(f'<rect class="bar" x="{x:.1f}" y="{height - bottom - h:.1f}" width="{max(step - 1, 0.8):.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>{day:%m/%d}: {escape(str(v))}件</title></rect>')
        if day.day == 1 or len(points) <= 31 and i % 7 == 0:
            body.append(_text(x, height - bottom + 14, f"{day.month}/{day.day}", size=10))
    return _svg(width, height, label, body)


def heatmap(grid: Sequence[Sequence[int | str]], weekdays: Sequence[str], label: str) -> Markup:
    """Weekday × hour: darker is busier; suppressed cells ("<5") are the palest shade."""
    cell, left, top = 30, 30, 20
    numeric = [[v if isinstance(v, int) else 4 for v in row] for row in grid]
    peak = max([max(r) for r in numeric] + [1])
    body = [_text(left + h * cell + cell / 2, top - 6, str(h), size=10, anchor="middle") for h in range(24)]
    for w, row in enumerate(grid):
        body.append(_text(left - 8, top + w * cell + cell * 0.65, weekdays[w], anchor="end"))
        for h, v in enumerate(row):
            share = numeric[w][h] / peak
            shade = 255 - int(200 * share) if numeric[w][h] else 248
            fill = f"#{shade:02x}{min(255, shade + 30):02x}{shade:02x}" if numeric[w][h] else "#f4f4f4"
            body.append(f'<rect class="cell" x="{left + h * cell}" y="{top + w * cell}" width="{cell - 2}" '
                        f'height="{cell - 2}" fill="{fill}">'
                        f'<title>{weekdays[w]} {h}時: {escape(str(v))}件</title></rect>')
    return _svg(left + 24 * cell + 10, top + 7 * cell + 10, label, body)


def wait_lines(points: Sequence[dict], label: str) -> Markup:
    """Median (green) and 90th percentile (red) of the wait per day, in minutes."""
    width, height, left, bottom, top = 900, 220, 40, 30, 10
    if not points:
        return _svg(width, height, label, [_text(width / 2, height / 2, "データがありません", anchor="middle")])
    peak = max(max((p["p90"] or 0) for p in points) / 60, 1)
    first, last = points[0]["day"], points[-1]["day"]
    span = max(1, (last - first).days)

    def xy(p: dict, key: str) -> str:
        x = left + (width - left - 10) * (p["day"] - first).days / span
        y = height - bottom - (height - bottom - top) * (p[key] or 0) / 60 / peak
        return f"{x:.1f},{y:.1f}"

    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
            _text(left - 4, top + 8, f"{peak:.0f}分", anchor="end"),
            _text(left - 4, height - bottom, "0", anchor="end"), _text(left, height - 8, f"{first:%Y/%m/%d}"),
            _text(width - 10, height - 8, f"{last:%Y/%m/%d}", anchor="end")]
    for key, colour, name in (("p90", RED, "90パーセンタイル"), ("median", GREEN, "中央値")):
        pts = " ".join(xy(p, key) for p in points if p[key] is not None)
        body.append(f'<polyline class="line {key}" points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5">'
                    f'<title>{name}</title></polyline>')
    body.append(_text(width - 200, top + 10, "— 中央値", fill=GREEN))
    body.append(_text(width - 120, top + 10, "— 90パーセンタイル", fill=RED))
    return _svg(width, height, label, body)


def hbars(items: Sequence[tuple[str, int | str]], label: str) -> Markup:
    """A mix: one horizontal bar per category."""
    row, left, width = 24, 170, 520
    numeric = [v if isinstance(v, int) else 4 for _, v in items]
    peak = max([*numeric, 1])
    body = []
    for i, (name, v) in enumerate(items):
        w = (width - left - 60) * numeric[i] / peak
        y = 6 + i * row
        body.append(_text(left - 6, y + 14, name, anchor="end"))
        body.append(f'<rect class="bar" x="{left}" y="{y}" width="{w:.1f}" height="{row - 6}" '
                    f'fill="{GREEN if isinstance(v, int) else GREY}">'
                    f'<title>{escape(name)}: {escape(str(v))}</title></rect>')
        body.append(_text(left + w + 6, y + 14, str(v)))
    return _svg(width, 12 + row * len(items), label, body)
