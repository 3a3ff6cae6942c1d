"""Grace ends and event triggers on the account's wall clock, across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from policyjobs.delinquency.config import DelinquencyEvent, OffsetBasis
from policyjobs.delinquency.timeline import grace_end, shift, trigger_time

NY = "America/New_York"


def test_a_grace_across_spring_forward_ends_at_the_same_local_time() -> None:
    start = datetime(2027, 3, 1, 5, 0, tzinfo=UTC)  # midnight EST
    end = grace_end(start, 30, NY)
    assert end == datetime(2027, 3, 31, 4, 0, tzinfo=UTC)  # midnight EDT
    assert end.astimezone(ZoneInfo(NY)).hour == 0


def test_events_offset_from_either_boundary_in_local_days() -> None:
    start = datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    end = grace_end(start, 30, NY)
    reminder = DelinquencyEvent(name="reminder", offset_basis=OffsetBasis.GRACE_PERIOD_START,
                                offset_days=5)
    final = DelinquencyEvent(name="final", offset_basis=OffsetBasis.GRACE_PERIOD_END,
                             offset_days=-7)
    assert trigger_time(reminder, start, end, NY) == datetime(2027, 1, 6, 5, 0, tzinfo=UTC)
    assert trigger_time(final, start, end, NY) == datetime(2027, 1, 24, 5, 0, tzinfo=UTC)


def test_no_days_is_no_move() -> None:
    instant = datetime(2027, 11, 7, 6, 30, tzinfo=UTC)
    assert shift(instant, 0, NY) == instant
