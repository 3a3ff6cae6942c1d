"""The operators' listings of a tenant's jobs, as the engine sees them now: counts by day, kind
and status, the latest failed, a filtered page, one job with its payload and result, and
its children. The dashboard is built on these (as River UI is on `JobList`), awaited on
the same `Reader` as the API's reads.

A job here shows its engine status (`leased` while a worker holds it, at the attempt it
runs). `jobs` has no index on its status, so that a job's updates stay HOT: the rare
statuses (waiting, failed, cancelled) are listed from `job_marks`, and the queue's (queued,
blocked, leased) from `job_queue`, each checked again on the job, so a mark or a queue row
out of step never shows a job. Statements are built once (per dialect, or per choice of
filters) and bound per call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.backends import backend_named
from policyjobs.engine.jobs import JobStatus, PublicStatus, public_status
from policyjobs.engine.schema import MARKED_STATUSES, job_marks, job_queue, job_states, jobs
from policyjobs.engine.view import Reader, Row
from policyjobs.exceptions import NotFound

PAGE = 25
# What the job list filters on: the API's statuses and the engine's.
STATUSES = tuple(dict.fromkeys([*PublicStatus, *JobStatus]))
_JOB = job_states  # a job's row, with the state, attempt and start of its queue row
_SHOWN = [_JOB.c[name] for name in (
    "locator", "kind", "reference_type", "reference_locator", "parent_locator", "status",
    "attempt", "max_attempts", "errors", "created_at", "started_at", "finished_at")]
_TENANT: sa.BindParameter[str] = sa.bindparam("tenant")


@dataclass(frozen=True, slots=True)
class Tally:
    """A tenant's jobs counted in one pass: by the UTC date they were made on and the status
    the API shows (for the chart), and by kind and engine status."""

    per_day: dict[date, dict[str, int]]
    per_kind: dict[str, dict[str, int]]


@functools.cache
def _tally(dialect: str) -> sa.Select[Any]:
    day = backend_named(dialect).day(jobs.c.created_at)
    return (sa.select(day, jobs.c.kind, jobs.c.status, sa.func.count())
            .where(jobs.c.tenant == _TENANT).group_by(day, jobs.c.kind, jobs.c.status))


async def tally(reads: Reader, *, tenant: str) -> Tally:
    """The tenant's `Tally`, counted by the database: a row per day, kind and status."""
    per_day: dict[date, dict[str, int]] = {}
    per_kind: dict[str, dict[str, int]] = {}
    for made_on, kind, status, count in await reads.all(_tally(reads.dialect),
                                                        {"tenant": tenant}):
        made_on = made_on if isinstance(made_on, date) else date.fromisoformat(made_on)
        shown = per_day.setdefault(made_on, {})
        shown[public_status(status)] = shown.get(public_status(status), 0) + count
        by_status = per_kind.setdefault(kind, {})
        by_status[status] = by_status.get(status, 0) + count
    return Tally(per_day, per_kind)


def _marked(status: str) -> sa.Select[Any]:
    """The tenant's jobs in a marked status, read from their marks in the marks' order;
    order by `job_marks.c.locator` to page them newest first."""
    return (sa.select(*_SHOWN)
            .select_from(job_marks.join(_JOB, _JOB.c.id == job_marks.c.id))
            .where(job_marks.c.tenant == _TENANT, job_marks.c.status == status,
                   _JOB.c.status == status))


def _queued(status: str) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """The ids of the tenant's jobs in `status`, running or a status of the queue's (queued,
    blocked, leased), from the narrow tables that hold them: the queue's and, for the jobs
    running that wait on their children, the tenant's marks."""
    queue = sa.select(job_queue.c.id).where(job_queue.c.tenant == _TENANT)
    if status == PublicStatus.RUNNING:
        waiting = sa.select(job_marks.c.id).where(job_marks.c.tenant == _TENANT,
                                                  job_marks.c.status == JobStatus.WAITING)
        return sa.union_all(queue, waiting)
    return queue.where(job_queue.c.status == status)


_FAILED = (_marked(JobStatus.FAILED).order_by(job_marks.c.locator.desc())
           .limit(sa.bindparam("limit")))


async def failed(reads: Reader, *, tenant: str, limit: int = 10) -> Sequence[Row]:
    """The tenant's jobs that failed, latest first."""
    return await reads.all(_FAILED, {"tenant": tenant, "limit": limit})


_BY_LOCATORS = (sa.select(*_SHOWN)
                .where(_JOB.c.tenant == _TENANT,
                       _JOB.c.locator.in_(sa.bindparam("locators", expanding=True)))
                .order_by(_JOB.c.locator.desc()))


async def by_locators(reads: Reader, *, tenant: str, locators: Sequence[str]) -> Sequence[Row]:
    """The tenant's jobs among `locators`, latest first."""
    if not locators:
        return []
    return await reads.all(_BY_LOCATORS, {"tenant": tenant, "locators": list(locators)})


@functools.cache
def _search(status: str | None, kind: bool, reference: bool, after: bool,
            before: bool) -> sa.Select[Any]:
    """The statement of `search` for a status and whether a kind, a reference and the
    bounds of a creation time are asked."""
    if status is not None and status in MARKED_STATUSES:
        query, newest_first = _marked(status), job_marks.c.locator.desc()
    else:
        query = sa.select(*_SHOWN).where(_JOB.c.tenant == _TENANT)
        newest_first = _JOB.c.locator.desc()
    if kind:
        query = query.where(_JOB.c.kind == sa.bindparam("kind"))
    if reference:
        query = query.where(_JOB.c.reference_locator == sa.bindparam("reference"))
    if after:
        query = query.where(_JOB.c.created_at >= sa.bindparam("after"))
    if before:
        query = query.where(_JOB.c.created_at < sa.bindparam("before"))
    if status == JobStatus.FINISHED:  # the common one: the newest jobs soon give a page
        query = query.where(_JOB.c.status.in_([JobStatus.FINISHED, JobStatus.CANCELLED]))
    elif status and status not in MARKED_STATUSES:
        query = query.where(_JOB.c.id.in_(_queued(status)))
    return (query.order_by(newest_first).offset(sa.bindparam("offset"))
            .limit(PAGE + 1))


async def search(reads: Reader, *, tenant: str, kind: str | None, status: str | None,
                 reference: str | None, offset: int, after: datetime | None = None,
                 before: datetime | None = None) -> Sequence[Row]:
    """A page (and one more row) of the tenant's jobs, latest first, filtered by kind, status
    (an API status or an engine one), reference locator and creation time (from `after`,
    before `before`): the filters of `selection.JobFilter`, which acts on what they show."""
    if status is not None and status not in STATUSES:
        return []
    params = {"tenant": tenant, "offset": offset, "kind": kind, "reference": reference,
              "after": after, "before": before}
    statement = _search(status, kind is not None, reference is not None, after is not None,
                        before is not None)
    return await reads.all(statement, {k: v for k, v in params.items() if v is not None})


_JOB_ALONE = sa.select(*_SHOWN, _JOB.c.lane, _JOB.c.lease_owner, _JOB.c.payload,
                       _JOB.c.result).where(
    _JOB.c.tenant == _TENANT, _JOB.c.locator == sa.bindparam("locator"))


async def job(reads: Reader, *, tenant: str, locator: str) -> Row:
    """One job of the tenant, with its payload and result, or `NotFound`."""
    row = await reads.first(_JOB_ALONE, {"tenant": tenant, "locator": locator})
    if row is None:
        raise NotFound(f"no job {locator}")
    return row


_CHILDREN = (sa.select(*_SHOWN)
             .where(_JOB.c.tenant == _TENANT, _JOB.c.parent_locator == sa.bindparam("parent"))
             .order_by(_JOB.c.locator))


async def children(reads: Reader, *, tenant: str, parent: str) -> Sequence[Row]:
    """A job's children, oldest first."""
    return await reads.all(_CHILDREN, {"tenant": tenant, "parent": parent})


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a job: its number, when it started and ended, the worker that ran it (as
    far as the store knows: not that of an attempt that succeeded), and how it failed."""

    number: int
    started: datetime | None
    ended: datetime | None
    worker: str | None
    error: str | None


def attempts(job: Row) -> list[Attempt]:
    """Every attempt of a job (a row of `job`), first first: each failed one, as its
    `errors` entry recorded it, then the one running or the last, if neither of those."""
    found = [Attempt(int(e.get("attempt", 0)), _moment(e.get("startedAt")),
                     _moment(e.get("at")), e.get("worker"), e.get("error"))
             for e in job.errors or ()]
    if job.attempt and (not found or found[-1].number < job.attempt):
        running = job.status == JobStatus.LEASED
        found.append(Attempt(job.attempt, job.started_at,
                             None if running else job.finished_at,
                             job.lease_owner if running else None, None))
    return found


def _moment(value: Any) -> datetime | None:
    """A time as an `errors` entry keeps it (ISO 8601; SQLite's without an offset: UTC)."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
