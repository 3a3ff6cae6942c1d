"""The jobs-over-time chart, pure: daily counts folded into days, weeks or months, drawn as
stacked bars in inline SVG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

from dateutil.relativedelta import relativedelta

from policyjobs.engine import PublicStatus

COLORS = {PublicStatus.FINISHED: "#2e7d32", PublicStatus.RUNNING: "#1565c0",
          PublicStatus.FAILED: "#c62828"}
WIDTH, HEIGHT, GAP, MARGIN = 640, 160, 4, 20  # MARGIN: room for the labels at the ends
DAYS, WEEKS, MONTHS = 31, 26, 24  # the most bars of each unit


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its period's first day, its label, and its jobs by status."""

    start: date
    label: str
    counts: Mapping[str, int]


def timeline(daily: Mapping[date, Mapping[str, int]], today: date) -> tuple[str, list[Bar]]:
    """The unit and bars that show the whole history up to `today`: days for a month of it,
    weeks (from Mondays) for half a year, then months; only the latest bars of the unit."""
    first = min(daily, default=today)
    span = (today - first).days
    if span < DAYS:
        unit, starts = "day", [today - timedelta(days=n) for n in range(DAYS)]
    elif span < WEEKS * 7:
        monday = today - timedelta(days=today.weekday())
        unit, starts = "week", [monday - timedelta(weeks=n) for n in range(WEEKS)]
    else:
        month = today.replace(day=1)
        unit, starts = "month", [month - relativedelta(months=n) for n in range(MONTHS)]
    starts.reverse()
    bars = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else today + timedelta(days=1)
        counts: dict[str, int] = {}
        for day, by_status in daily.items():
            if start <= day < end:
                for status, count in by_status.items():
                    counts[status] = counts.get(status, 0) + count
        bars.append(Bar(start, start.strftime("%Y-%m" if unit == "month" else "%m-%d"),
                        counts))
    return unit, bars


def stacked_bars(bars: Sequence[Bar], unit: str) -> str:
    """An SVG of the bars, stacked by status, each segment titled with its count."""
    tallest = max((sum(bar.counts.values()) for bar in bars), default=0) or 1
    width = (WIDTH - 2 * MARGIN - GAP * len(bars)) / max(len(bars), 1)
    every = max(len(bars) // 12, 1)  # a label on every bar would overlap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + 20}" '
             f'role="img" aria-label="Jobs made per {unit}, by status" class="chart">']
    for index, bar in enumerate(bars):
        x, bottom = MARGIN + index * (width + GAP), float(HEIGHT)
        for status, color in COLORS.items():
            count = bar.counts.get(status, 0)
            if not count:
                continue
            height = HEIGHT * count / tallest
            bottom -= height
            parts.append(f'<rect x="{x:.1f}" y="{bottom:.1f}" width="{width:.1f}" '
                         f'height="{height:.1f}" fill="{color}"><title>{unit} of '
                         f'{bar.start.isoformat()}: {count} {status}</title></rect>')
        if index % every == 0:
            parts.append(f'<text x="{x + width / 2:.1f}" y="{HEIGHT + 14}" font-size="9" '
                         f'text-anchor="middle">{escape(bar.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
