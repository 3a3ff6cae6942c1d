"""A stacked bar chart as inline SVG, pure: jobs made per day, by status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

COLORS = {"finished": "#2e7d32", "running": "#1565c0", "failed": "#c62828"}
WIDTH, HEIGHT, GAP = 640, 160, 4


def stacked_bars(days: Sequence[str], counts: Mapping[str, Mapping[str, int]]) -> str:
    """An SVG of one bar per day, stacked by status, each segment titled with its count."""
    tallest = max((sum(counts.get(day, {}).values()) for day in days), default=0) or 1
    width = (WIDTH - GAP * len(days)) / max(len(days), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + 20}" '
             f'role="img" aria-label="Jobs made per day, by status" class="chart">']
    for index, day in enumerate(days):
        x, bottom = index * (width + GAP), float(HEIGHT)
        for status, color in COLORS.items():
            count = counts.get(day, {}).get(status, 0)
            if not count:
                continue
            height = HEIGHT * count / tallest
            bottom -= height
            parts.append(f'<rect x="{x:.1f}" y="{bottom:.1f}" width="{width:.1f}" '
                         f'height="{height:.1f}" fill="{color}"><title>{escape(day)}: '
                         f'{count} {status}</title></rect>')
        parts.append(f'<text x="{x + width / 2:.1f}" y="{HEIGHT + 14}" font-size="9" '
                     f'text-anchor="middle">{escape(day[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)
