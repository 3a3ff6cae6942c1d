"""Paused kinds: a kind paused for one tenant, or for all, keeps its jobs but runs none.

A queue row of a paused kind sits in its lane plus `PAUSED`. Claims, the queue's metrics
and the idle check look only at the lanes below it, so no worker sees the job, and nothing
on the claim path reads the pauses: a job enqueued, requeued or moved to another lane while
its kind is paused lands there too (the enqueue's SQL and `tenancy` add the offset). A job
running when its kind is paused finishes; if its attempt fails, it is retried once resumed.

Pausing and resuming hold the queue against other writers until they commit (on
PostgreSQL; SQLite has one writer): an enqueue under way when a pause begins commits first,
and the pause moves its jobs; one that begins later sees the pause. Else an enqueue that
read the pauses before a resume committed would leave its jobs paused for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.ids import new_locator
from policyjobs.engine.jobs import PAUSED
from policyjobs.engine.schema import engine_pauses, job_queue

EVERY_TENANT = "*"  # the tenant of a pause of a kind for all tenants

_MATCHING = sa.exists().where(engine_pauses.c.kind == job_queue.c.kind,
                              engine_pauses.c.tenant.in_([job_queue.c.tenant, EVERY_TENANT]))
# What a queue row's lane is raised by now: `PAUSED` while a pause names its kind.
OFFSET = sa.case((_MATCHING, PAUSED), else_=0)


@dataclass(frozen=True, slots=True)
class Pause:
    """A kind paused, for one tenant or (tenant `EVERY_TENANT`) for all."""

    locator: str
    kind: str
    tenant: str
    created_at: datetime

    @property
    def every_tenant(self) -> bool:
        """Whether the pause holds the kind for every tenant."""
        return self.tenant == EVERY_TENANT


def _pause(row: Any) -> Pause:
    return Pause(row.locator, row.kind, row.tenant, row.created_at)


_COLUMNS = (engine_pauses.c.locator, engine_pauses.c.kind, engine_pauses.c.tenant,
            engine_pauses.c.created_at)


def pause(conn: sa.Connection, *, kind: str, tenant: str, now: datetime) -> tuple[Pause, bool]:
    """Pause `kind` for `tenant` (or `EVERY_TENANT`) in `conn`'s transaction: the pause, and
    whether it is new (a kind already paused for the tenant keeps the pause it has)."""
    _hold_queue(conn)
    found = conn.execute(sa.select(*_COLUMNS).where(engine_pauses.c.kind == kind,
                                                    engine_pauses.c.tenant == tenant)).first()
    if found is not None:
        return _pause(found), False
    made = Pause(new_locator(), kind, tenant, now)
    conn.execute(engine_pauses.insert().values(locator=made.locator, kind=kind, tenant=tenant,
                                               created_at=now))
    _relane(conn, kind, tenant)
    return made, True


def resume(conn: sa.Connection, locator: str) -> Pause | None:
    """Lift the pause `locator` in `conn`'s transaction; the pause, or None if there is none.
    The kind's jobs run again, but for a tenant another pause still holds."""
    _hold_queue(conn)
    found = conn.execute(engine_pauses.delete().where(engine_pauses.c.locator == locator)
                         .returning(*_COLUMNS)).first()
    if found is None:
        return None
    lifted = _pause(found)
    _relane(conn, lifted.kind, lifted.tenant)
    return lifted


def pauses(conn: sa.Connection) -> Sequence[Pause]:
    """Every pause, by kind and tenant."""
    return [_pause(row) for row in conn.execute(
        sa.select(*_COLUMNS).order_by(engine_pauses.c.kind, engine_pauses.c.tenant))]


def _hold_queue(conn: sa.Connection) -> None:
    """Keep other writers of the queue out until `conn`'s transaction ends, and wait for
    those under way; pauses and resumes one at a time (a lock that conflicts with itself)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE job_queue IN SHARE ROW EXCLUSIVE MODE")


def _relane(conn: sa.Connection, kind: str, tenant: str) -> None:
    """Move the queue rows of `kind` (of `tenant`, unless every tenant's) in or out of the
    paused lanes, as the pauses now say."""
    lane = job_queue.c.lane % PAUSED + OFFSET
    statement = job_queue.update().where(job_queue.c.kind == kind, job_queue.c.lane != lane)
    if tenant != EVERY_TENANT:
        statement = statement.where(job_queue.c.tenant == tenant)
    conn.execute(statement.values(lane=lane))
