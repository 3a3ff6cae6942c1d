"""Calendar schedules: jobs a tenant's schedule makes at each occurrence, caught up in order.

A schedule (a row of `engine_schedules`) says "daily at 02:00 in America/New_York, make
a job of kind K for tenant T". The scheduler's leader makes the job of every occurrence
that has come by the business clock, the missed ones first (the service was down, or the
test clock jumped), each with `scheduledFor` in its payload and run-at the occurrence.
The jobs of one schedule share its key as their ordered key, so they run one at a time,
in order, whichever workers take them; and each occurrence's job has a dedupe key, so
no occurrence is made twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.calendar import Daily
from policyjobs.engine.ids import new_locator
from policyjobs.engine.schema import engine_schedules

CATCH_UP = 1000  # occurrences one schedule makes jobs for in one tick, at most
DUE_AT_ONCE = 100  # schedules one tick serves, at most


@dataclass(frozen=True, slots=True)
class Schedule:
    """What a schedule makes: a job of `kind` for `tenant` at every occurrence of `every`."""

    key: str
    tenant: str
    kind: str
    every: Daily
    payload: Mapping[str, Any] = field(default_factory=dict)


def save(conn: sa.Connection, schedule: Schedule, now: datetime) -> str:
    """Create or change a schedule; its locator, which stays the same across changes.

    A new schedule, or one whose time or timezone changed, next fires at its first
    occurrence after `now`; an unchanged one keeps its next occurrence, so saving it
    again neither skips nor repeats one.
    """
    row = conn.execute(sa.select(engine_schedules).where(engine_schedules.c.key == schedule.key)
                       .with_for_update()).first()
    values: dict[str, Any] = {"tenant": schedule.tenant, "kind": schedule.kind,
              "time_of_day": schedule.every.time_of_day, "timezone": schedule.every.timezone,
              "payload": dict(schedule.payload)}
    if row is None:
        locator = new_locator()
        conn.execute(engine_schedules.insert().values(
            key=schedule.key, locator=locator, next_at=schedule.every.next_after(now),
            created_at=now, **values))
        return locator
    if (row.time_of_day, row.timezone) != (schedule.every.time_of_day, schedule.every.timezone):
        values["next_at"] = schedule.every.next_after(now)
    conn.execute(engine_schedules.update().where(engine_schedules.c.key == schedule.key)
                 .values(**values))
    return str(row.locator)


def remove(conn: sa.Connection, key: str) -> None:
    """Stop a schedule; the jobs it made stay."""
    conn.execute(engine_schedules.delete().where(engine_schedules.c.key == key))


def existing(conn: sa.Connection, keys: Sequence[str]) -> set[str]:
    """Which of `keys` name a schedule."""
    if not keys:
        return set()
    return set(conn.execute(sa.select(engine_schedules.c.key)
                            .where(engine_schedules.c.key.in_(list(keys)))).scalars())


def locator_of(conn: sa.Connection, key: str) -> str | None:
    """The locator of the schedule `key`, if it exists."""
    found = conn.execute(sa.select(engine_schedules.c.locator)
                         .where(engine_schedules.c.key == key)).scalar()
    return None if found is None else str(found)
