"""Jobs chosen by a filter, for an operator's action on many at once (`policyjobs.operations`):
counted when the action is asked for, then walked in id order, a batch at a time.

The filter is the dashboard's job list's (tenant, kind, status, reference, created between)
and a list of locators. Only jobs that existed when the action was asked for are taken
(ids up to `through`): a job made since, the action's own job among them, is not, so
walking the same filter twice takes the same jobs, bar those whose status moved on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.jobs import ACTIVE_STATUSES, JobStatus, PublicStatus
from policyjobs.engine.schema import job_states, jobs

_JOB = job_states
# What an action is given of each job: enough to decide, and to act through a domain.
COLUMNS = [_JOB.c[name] for name in (
    "id", "locator", "tenant", "kind", "status", "reference_type", "reference_locator",
    "parent_locator", "ordered_key", "attempt", "max_attempts", "payload", "lease_owner")]


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs: each field given narrows them; none given is every job of every tenant."""

    tenant: str | None = None
    kind: str | None = None
    status: str | None = None  # an API status (`PublicStatus`) or the engine's (`JobStatus`)
    reference: str | None = None  # a reference locator
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    locators: tuple[str, ...] | None = None

    @property
    def everything(self) -> bool:
        """Whether the filter names nothing, and so takes every job of every tenant."""
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)

    def condition(self) -> sa.ColumnElement[bool]:
        """The filter as a condition on the job's row, as the engine sees it now."""
        found: list[sa.ColumnElement[bool]] = []
        for value, column in ((self.tenant, _JOB.c.tenant), (self.kind, _JOB.c.kind),
                              (self.reference, _JOB.c.reference_locator)):
            if value is not None:
                found.append(column == value)
        if self.status is not None:
            found.append(_JOB.c.status.in_(statuses(self.status)))
        if self.created_after is not None:
            found.append(_JOB.c.created_at >= self.created_after)
        if self.created_before is not None:
            found.append(_JOB.c.created_at < self.created_before)
        if self.locators is not None:
            found.append(_JOB.c.locator.in_(self.locators))
        return sa.and_(sa.true(), *found)


def statuses(status: str) -> tuple[str, ...]:
    """The engine's statuses a filter's status takes, as the dashboard's list does."""
    if status == PublicStatus.RUNNING:
        return tuple(ACTIVE_STATUSES)
    if status == JobStatus.FINISHED:
        return (JobStatus.FINISHED, JobStatus.CANCELLED)
    return (status,)


def last_id(conn: sa.Connection) -> int:
    """The id of the newest job, or 0: the `through` of an action asked for now."""
    return int(conn.execute(sa.select(sa.func.max(jobs.c.id))).scalar() or 0)


def count(conn: sa.Connection, chosen: JobFilter, *, through: int) -> int:
    """How many jobs up to id `through` the filter takes now."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(_JOB)
                            .where(chosen.condition(), _JOB.c.id <= through)).scalar_one())


def batch(conn: sa.Connection, chosen: JobFilter, *, after: int, through: int,
          limit: int) -> Sequence[Any]:
    """The next `limit` jobs the filter takes, by id, after id `after` and up to `through`,
    with the `COLUMNS` an action needs."""
    return conn.execute(sa.select(*COLUMNS)
                        .where(chosen.condition(), _JOB.c.id > after, _JOB.c.id <= through)
                        .order_by(_JOB.c.id).limit(limit)).all()
