"""Calendar recurrences for schedules, pure: when "daily at 02:00 in America/New_York" falls.

Occurrences are computed on the wall clock of the timezone and returned in UTC. A wall
time that a DST change skips moves forward by the gap (02:30 on a spring-forward night
is 03:30); an ambiguous one is its first occurrence (01:30 on a fall-back night is the
one in daylight time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def known_timezone(name: str) -> bool:
    """Whether `name` is an IANA timezone this machine knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Daily:
    """Every day at `at` on the wall clock of `timezone`."""

    at: time
    timezone: str

    @classmethod
    def parse(cls, time_of_day: str, timezone: str) -> Daily:
        """`Daily` from "HH:MM" and an IANA timezone name."""
        match = _TIME_OF_DAY.match(time_of_day)
        if not match:
            raise ValueError(f"{time_of_day!r} is not a time of day such as 02:00")
        if not known_timezone(timezone):
            raise ValueError(f"{timezone!r} is not a known IANA timezone")
        return cls(time(int(match[1]), int(match[2])), timezone)

    @property
    def time_of_day(self) -> str:
        """`at` as "HH:MM"."""
        return self.at.strftime("%H:%M")

    def next_after(self, instant: datetime) -> datetime:
        """The first occurrence strictly after `instant`, in UTC."""
        zone = ZoneInfo(self.timezone)
        day = instant.astimezone(zone).date() - timedelta(days=1)
        while True:
            # A skipped wall time takes the offset from before the gap (fold 0).
            occurrence = datetime.combine(day, self.at, tzinfo=zone).astimezone(UTC)
            if occurrence > instant:
                return occurrence
            day += timedelta(days=1)
