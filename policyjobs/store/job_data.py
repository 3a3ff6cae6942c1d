"""A domain's rows of job data beside the engine's jobs: one row per job of the domain's
kinds (`documents_jobs`, `installment_jobs`, …), read with the jobs they extend.

Every job of a domain has its row, written with it; one is missing only where a store lost
it (an upgrade across revision 0012 on SQLite did, before 0016 restored them) or someone
deleted it. Such a job is not shown: lists leave it out and fetches answer 404, never 500,
its handler fails it for good, and the log says so once per job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog

from policyjobs.engine import PermanentJobError
from policyjobs.engine.view import Reader, Row, list_reference_jobs
from policyjobs.exceptions import NotFound
from policyjobs.store.scoping import TENANT, in_tenant

T = TypeVar("T")
log = structlog.get_logger("policyjobs.store")


@dataclass(frozen=True, slots=True)
class JobData:
    """A domain's table of job data (one row per job, by `job_locator`), and the statement
    that reads the rows of some jobs of a tenant."""

    table: sa.Table
    statement: sa.Select[Any]


def job_data_of(table: sa.Table) -> JobData:
    """`table`'s rows of job data for some jobs of a tenant: to build once, for
    `reference_jobs_with_data`."""
    return JobData(table, in_tenant(table, TENANT).where(
        table.c.job_locator.in_(sa.bindparam("jobs", expanding=True))))


_GAPS_SAID: set[str] = set()
_GAPS_REMEMBERED = 10_000  # enough for any damage a store has; a bound on the memory it costs


def with_data(table: sa.Table, jobs_: Sequence[T], data: dict[str, Any],
              locator: Callable[[T], str]) -> list[T]:
    """`jobs_` that have their row of domain data in `data` (by job locator); a job without
    one is left out, and said in the log once per process.

    Every job of a domain has its row, written with it; one is missing only where a store
    lost it (an upgrade across revision 0012 on SQLite did, before 0016 restored them) or
    someone deleted it. Such a job is not shown: lists leave it out and fetches answer 404,
    never 500.
    """
    kept = [job for job in jobs_ if locator(job) in data]
    if len(kept) < len(jobs_):
        _say_gaps(table.name, [locator(job) for job in jobs_ if locator(job) not in data])
    return kept


def _say_gaps(table: str, locators: Iterable[str]) -> None:
    new = [job for job in locators if job not in _GAPS_SAID]
    if not new:
        return
    if len(_GAPS_SAID) < _GAPS_REMEMBERED:
        _GAPS_SAID.update(new)
    log.warning("jobs without their data are not shown", table=table, jobs=new,
                fix="policyjobs migrate restores what an upgrade lost (revision 0016)")


def required_data(row: T | None, table: sa.Table, job_locator: str) -> T:
    """A job's row of domain data in `table`, as its handler reads it: a job whose row is
    missing fails for good, saying so, rather than retrying what cannot succeed."""
    if row is None:
        raise PermanentJobError(f"job {job_locator} has no row in {table.name}: the store lost "
                                "its data, and `policyjobs migrate` restores only what it can "
                                "derive")
    return row


def data_missing(table: sa.Table, job_locator: str) -> NotFound:
    """The `NotFound` of a job whose row of domain data in `table` is missing, said in the
    log once per process (see `with_data`)."""
    _say_gaps(table.name, [job_locator])
    return NotFound(f"job {job_locator} has no row in {table.name}: the store lost its data")


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A domain's job: its job row, and its row of the domain's job data."""

    job: Row
    data: Row


async def reference_jobs_with_data(reads: Reader, job_data: JobData, *, tenant: str,
                                   reference_type: str, reference_locator: str,
                                   kind: str, offset: int, limit: int) -> list[JobRecord]:
    """`list_reference_jobs` of one kind, each job beside its row of `job_data` (from
    `job_data_of`); a job without one is left out (`with_data`)."""
    rows = await list_reference_jobs(reads, tenant=tenant, reference_type=reference_type,
                                     reference_locator=reference_locator, kinds=[kind],
                                     offset=offset, limit=limit)
    if not rows:
        return []
    data = {r.job_locator: r for r in await reads.all(
        job_data.statement, {"tenant": tenant, "jobs": [row.locator for row in rows]})}
    return [JobRecord(row, data[row.locator])
            for row in with_data(job_data.table, rows, data, lambda row: str(row.locator))]
