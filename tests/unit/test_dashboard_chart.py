"""The dashboard's chart: the whole history in days, weeks or months, stacked by status."""

from __future__ import annotations

from datetime import date
from xml.etree import ElementTree

from policyjobs.dashboard.chart import HEIGHT, Bar, stacked_bars, timeline

SVG = "{http://www.w3.org/2000/svg}"
TODAY = date(2027, 6, 15)  # a Tuesday


def segments(svg: str) -> list[tuple[str, float]]:
    """Each segment's title and height."""
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output, not untrusted input
    return [(rect.findtext(f"{SVG}title") or "", float(rect.attrib["height"]))
            for rect in root.iter(f"{SVG}rect")]


def test_a_month_of_history_is_shown_by_day() -> None:
    unit, bars = timeline({date(2027, 6, 1): {"finished": 2}, TODAY: {"failed": 1}}, TODAY)
    assert unit == "day"
    assert len(bars) == 31
    assert bars[-1] == Bar(TODAY, "06-15", {"failed": 1})
    assert bars[-15] == Bar(date(2027, 6, 1), "06-01", {"finished": 2})
    assert sum(sum(b.counts.values()) for b in bars) == 3


def test_half_a_year_is_shown_by_week_from_mondays() -> None:
    unit, bars = timeline({date(2027, 2, 1): {"finished": 1}, date(2027, 6, 14): {"running": 2},
                           TODAY: {"running": 1}}, TODAY)
    assert unit == "week"
    assert len(bars) == 26
    assert bars[-1] == Bar(date(2027, 6, 14), "06-14", {"running": 3})
    assert bars[0].start == date(2026, 12, 21)
    assert {b.start.weekday() for b in bars} == {0}
    assert sum(sum(b.counts.values()) for b in bars) == 4


def test_a_longer_history_is_shown_by_month_and_its_oldest_months_drop_off() -> None:
    daily = {date(2024, 1, 10): {"finished": 5}, date(2026, 1, 31): {"finished": 1},
             date(2026, 2, 1): {"failed": 4}, TODAY: {"finished": 1}}
    unit, bars = timeline(daily, TODAY)
    assert unit == "month"
    assert len(bars) == 24
    assert [b.label for b in bars[:2]] == ["2025-07", "2025-08"]
    by_label = {b.label: b.counts for b in bars}
    assert by_label["2026-01"] == {"finished": 1}
    assert by_label["2026-02"] == {"failed": 4}
    assert by_label["2027-06"] == {"finished": 1}


def test_segments_stack_by_status_and_the_busiest_bar_fills_the_height() -> None:
    bars = [Bar(date(2027, 1, 1), "01-01", {"finished": 3, "failed": 1}),
            Bar(date(2027, 1, 2), "01-02", {"running": 2}), Bar(date(2027, 1, 3), "01-03", {})]
    assert segments(stacked_bars(bars, "day")) == [
        ("day of 2027-01-01: 3 finished", HEIGHT * 3 / 4),
        ("day of 2027-01-01: 1 failed", HEIGHT / 4),
        ("day of 2027-01-02: 2 running", HEIGHT / 2)]


def test_no_history_draws_no_bar() -> None:
    unit, bars = timeline({}, TODAY)
    assert unit == "day"
    assert segments(stacked_bars(bars, unit)) == []
