"""What the dashboard reads of jobs, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import public_status
from policyjobs.engine.jobs import JobStatus, PublicStatus
from policyjobs.engine.schema import MARKED_STATUSES, job_marks, job_queue, job_states, jobs
from policyjobs.store.reads import found

Row = sa.Row[Any]
PAGE = 25
# What the job list filters on: the API's statuses and the engine's.
STATUSES = tuple(dict.fromkeys([*PublicStatus, *JobStatus]))
# Jobs as the engine sees them now (a leased job is `leased`, at the attempt it runs).
_JOB = job_states
_SHOWN = [_JOB.c[name] for name in (
    "locator", "kind", "reference_type", "reference_locator", "parent_locator", "status",
    "attempt", "max_attempts", "errors", "created_at", "started_at", "finished_at")]


@dataclass(frozen=True, slots=True)
class Tally:
    """A tenant's jobs counted in one pass: by the UTC date they were made on and the status
    the API shows (for the chart), and by kind and engine status."""

    per_day: dict[date, dict[str, int]]
    per_kind: dict[str, dict[str, int]]


def tally(conn: sa.Connection, *, tenant: str) -> Tally:
    """The tenant's `Tally`, counted by the database: a row per day, kind and status."""
    if conn.dialect.name == "postgresql":
        day: sa.ColumnElement[Any] = sa.cast(sa.func.timezone("UTC", jobs.c.created_at),
                                             sa.Date)
    else:  # SQLite keeps UTC times as text that starts with the date
        day = sa.func.substr(jobs.c.created_at, 1, 10, type_=sa.String)
    per_day: dict[date, dict[str, int]] = {}
    per_kind: dict[str, dict[str, int]] = {}
    for made_on, kind, status, count in conn.execute(
            sa.select(day, jobs.c.kind, jobs.c.status, sa.func.count())
            .where(jobs.c.tenant == tenant).group_by(day, jobs.c.kind, jobs.c.status)):
        made_on = made_on if isinstance(made_on, date) else date.fromisoformat(made_on)
        shown = per_day.setdefault(made_on, {})
        shown[public_status(status)] = shown.get(public_status(status), 0) + count
        by_status = per_kind.setdefault(kind, {})
        by_status[status] = by_status.get(status, 0) + count
    return Tally(per_day, per_kind)


def _marked(tenant: str, status: str) -> sa.Select[Any]:
    """The tenant's jobs in a marked status (waiting, failed or cancelled), read from their
    marks in the marks' own order; order by `job_marks.c.locator` to page them newest first.
    The status is checked again on the job, so a mark out of step never shows a job."""
    return (sa.select(*_SHOWN)
            .select_from(job_marks.join(_JOB, _JOB.c.id == job_marks.c.id))
            .where(job_marks.c.tenant == tenant, job_marks.c.status == status,
                   _JOB.c.status == status))


def _queued(tenant: str, status: str) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """The ids of the jobs in `status`, running or a status of the queue's (queued, blocked,
    leased), from the narrow tables that hold them: the queue's and, for the jobs running
    that wait on their children, the tenant's marks."""
    if status == PublicStatus.RUNNING:
        waiting = sa.select(job_marks.c.id).where(job_marks.c.tenant == tenant,
                                                  job_marks.c.status == JobStatus.WAITING)
        return sa.union_all(sa.select(job_queue.c.id), waiting)
    return sa.select(job_queue.c.id).where(job_queue.c.status == status)


def failed(conn: sa.Connection, *, tenant: str, limit: int = 10) -> Sequence[Row]:
    """The tenant's jobs that failed, latest first."""
    return conn.execute(_marked(tenant, JobStatus.FAILED)
                        .order_by(job_marks.c.locator.desc()).limit(limit)).all()


def by_locators(conn: sa.Connection, *, tenant: str, locators: Sequence[str]) -> Sequence[Row]:
    """The tenant's jobs among `locators`, latest first."""
    if not locators:
        return []
    return conn.execute(sa.select(*_SHOWN).where(_JOB.c.tenant == tenant,
                                                 _JOB.c.locator.in_(list(locators)))
                        .order_by(_JOB.c.locator.desc())).all()


def search(conn: sa.Connection, *, tenant: str, kind: str | None, status: str | None,
           reference: str | None, offset: int) -> Sequence[Row]:
    """A page (and one more row) of the tenant's jobs, latest first, filtered by kind, status
    (an API status or an engine one) and reference locator."""
    if status is not None and status not in STATUSES:
        return []
    if status is not None and status in MARKED_STATUSES:
        query, newest_first = _marked(tenant, status), job_marks.c.locator.desc()
    else:
        query = sa.select(*_SHOWN).where(_JOB.c.tenant == tenant)
        newest_first = _JOB.c.locator.desc()
    if kind:
        query = query.where(_JOB.c.kind == kind)
    if reference:
        query = query.where(_JOB.c.reference_locator == reference)
    if status == JobStatus.FINISHED:  # the common one: the newest jobs soon give a page
        query = query.where(_JOB.c.status.in_([JobStatus.FINISHED, JobStatus.CANCELLED]))
    elif status and status not in MARKED_STATUSES:
        query = query.where(_JOB.c.id.in_(_queued(tenant, status)))
    return conn.execute(query.order_by(newest_first).offset(offset).limit(PAGE + 1)).all()


def job(conn: sa.Connection, *, tenant: str, locator: str) -> Row:
    """One job of the tenant, with its payload and result, or `NotFound`."""
    query: sa.Select[Any] = sa.select(*_SHOWN, _JOB.c.payload, _JOB.c.result)
    return found(conn.execute(query.where(_JOB.c.tenant == tenant,
                                          _JOB.c.locator == locator)).first(),
                 f"no job {locator}")


def children(conn: sa.Connection, *, tenant: str, parent: str) -> Sequence[Row]:
    """A job's children, oldest first."""
    return conn.execute(sa.select(*_SHOWN).where(_JOB.c.tenant == tenant,
                                                 _JOB.c.parent_locator == parent)
                        .order_by(_JOB.c.locator)).all()
