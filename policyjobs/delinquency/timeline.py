"""When a delinquency's grace ends and its events fire, pure: days counted on a wall clock.

Days are the account's local calendar days, so a grace of 30 days that spans a DST change
ends at the same local time of day it started, and an offset of -7 days from grace end
falls a week of local days before it. A local time that DST skips moves forward by the gap;
an ambiguous one keeps the occurrence (first or second) of the time it was moved from.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from policyjobs.delinquency.config import DelinquencyEvent, OffsetBasis


def shift(instant: datetime, days: int, timezone: str) -> datetime:
    """`instant` moved by `days` local calendar days in `timezone` (back when negative), UTC."""
    zone = ZoneInfo(timezone)
    local = instant.astimezone(zone)
    moved = (local.replace(tzinfo=None) + timedelta(days=days)).replace(fold=local.fold)
    return moved.replace(tzinfo=zone).astimezone(UTC)


def grace_end(start: datetime, grace_days: int, timezone: str) -> datetime:
    """The end of a grace period of `grace_days` local days from `start`."""
    return shift(start, grace_days, timezone)


def trigger_time(event: DelinquencyEvent, start: datetime, end: datetime,
                 timezone: str) -> datetime:
    """When `event` fires, for a grace period from `start` to `end`."""
    basis = start if event.offset_basis is OffsetBasis.GRACE_PERIOD_START else end
    return shift(basis, event.offset_days, timezone)
