"""Daily occurrences on a wall clock, across DST changes, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from policyjobs.engine.calendar import Daily

NY = ZoneInfo("America/New_York")
AT_TWO = Daily(time(2, 0), "America/New_York")


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_the_next_occurrence_is_today_or_tomorrow() -> None:
    assert AT_TWO.next_after(utc(2027, 1, 10, 5, 0)) == utc(2027, 1, 10, 7, 0)  # 00:00 EST
    assert AT_TWO.next_after(utc(2027, 1, 10, 7, 0)) == utc(2027, 1, 11, 7, 0)  # strictly after
    assert AT_TWO.next_after(utc(2027, 1, 10, 8, 0)) == utc(2027, 1, 11, 7, 0)


def test_a_time_that_spring_forward_skips_moves_forward_by_the_gap() -> None:
    before = AT_TWO.next_after(utc(2027, 3, 13, 0, 0))
    skipped = AT_TWO.next_after(before)
    after = AT_TWO.next_after(skipped)
    assert before == utc(2027, 3, 13, 7, 0)  # 02:00 EST
    assert skipped == utc(2027, 3, 14, 7, 0)  # 02:00 does not exist: 03:00 EDT
    assert skipped.astimezone(NY).hour == 3
    assert after == utc(2027, 3, 15, 6, 0)  # 02:00 EDT


def test_fall_back_keeps_the_wall_time_and_an_ambiguous_one_is_its_first() -> None:
    assert AT_TWO.next_after(utc(2027, 11, 6, 0, 0)) == utc(2027, 11, 6, 6, 0)  # EDT
    assert AT_TWO.next_after(utc(2027, 11, 6, 6, 0)) == utc(2027, 11, 7, 7, 0)  # EST
    half_past_one = Daily(time(1, 30), "America/New_York")
    assert half_past_one.next_after(utc(2027, 11, 7, 0, 0)) == utc(2027, 11, 7, 5, 30)  # EDT
    assert half_past_one.next_after(utc(2027, 11, 7, 5, 30)) == utc(2027, 11, 8, 6, 30)


def test_a_year_has_one_occurrence_a_day_at_two_local() -> None:
    at, seen = utc(2027, 1, 1, 0, 0), []
    for _ in range(365):
        at = AT_TWO.next_after(at)
        seen.append(at)
    local = [when.astimezone(NY) for when in seen]
    assert len({when.date() for when in local}) == 365
    assert [when.hour for when in local].count(3) == 1  # the spring-forward night
    assert all(when.hour == 2 and when.minute == 0 for when in local if when.hour != 3)
    assert all(b - a in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25))
               for a, b in pairwise(seen))


@pytest.mark.parametrize(("time_of_day", "zone"), [("24:00", "UTC"), ("2:00", "UTC"),
                                                   ("02:00", "Mars/Olympus")])
def test_parse_refuses_what_is_not_a_time_and_a_zone(time_of_day: str, zone: str) -> None:
    with pytest.raises(ValueError, match="is not a"):
        Daily.parse(time_of_day, zone)
