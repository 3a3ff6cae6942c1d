"""The dashboard's chart: one bar per day, stacked by status, scaled to the busiest day."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from policyjobs.dashboard.chart import HEIGHT, stacked_bars

SVG = "{http://www.w3.org/2000/svg}"


def bars(svg: str) -> list[tuple[str, float]]:
    """Each segment's title and height."""
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output, not untrusted input
    return [(rect.findtext(f"{SVG}title") or "", float(rect.attrib["height"]))
            for rect in root.iter(f"{SVG}rect")]


def test_segments_stack_by_status_and_the_busiest_day_fills_the_height() -> None:
    svg = stacked_bars(["2027-01-01", "2027-01-02"],
                       {"2027-01-01": {"finished": 3, "failed": 1},
                        "2027-01-02": {"running": 2}})
    assert bars(svg) == [("2027-01-01: 3 finished", HEIGHT * 3 / 4),
                         ("2027-01-01: 1 failed", HEIGHT / 4),
                         ("2027-01-02: 2 running", HEIGHT / 2)]
    assert re.findall(r">(\d\d-\d\d)</text>", svg) == ["01-01", "01-02"]


def test_days_without_jobs_draw_no_bar() -> None:
    assert bars(stacked_bars(["2027-01-01"], {})) == []
    assert bars(stacked_bars([], {})) == []
