"""The one place reads are scoped to a tenant: any table's rows, and jobs by reference.

The readers here are awaited on `Reads` (`store.readers`), as the API's routes read.

Jobs are read by tenant, reference and kind, in locator order: every lookup walks the
`jobs_reference` index (tenant, reference type, reference locator, kind, locator), so a
page costs the same in a table of any size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog

from policyjobs.engine.errors import PermanentJobError
from policyjobs.engine.schema import jobs
from policyjobs.exceptions import NotFound
from policyjobs.store.readers import Reads, Row

T = TypeVar("T")
log = structlog.get_logger("policyjobs.store")

# The tenant of a statement built once (at import) and bound per call, for hot paths: a
# statement built per call costs some ten times more of Python than executing one built.
TENANT: sa.BindParameter[str] = sa.bindparam("tenant")


def in_tenant(table: sa.Table, tenant: str | sa.BindParameter[Any],
              *columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """A `SELECT` of `table`'s rows (or of `columns`) that belong to `tenant`: a name, or
    `TENANT` to bind at execution."""
    return sa.select(*(columns or (table,))).where(table.c.tenant == tenant)


def by_locator(table: sa.Table) -> sa.Select[Any]:
    """`table`'s row of a locator in a tenant: a statement to build once, bound with `tenant`
    and `locator`."""
    return in_tenant(table, TENANT).where(table.c.locator == sa.bindparam("locator"))


def paged(statement: sa.Select[Any]) -> sa.Select[Any]:
    """`statement`'s page, from `offset` and `limit` bound per call."""
    return statement.offset(sa.bindparam("offset")).limit(sa.bindparam("limit"))


def found(row: T | None, missing: str) -> T:
    """`row`, or `NotFound` saying what is `missing`."""
    if row is None:
        raise NotFound(missing)
    return row


# What the read endpoints show of a job, and no more: never its payload or result, which
# can be large, nor what they only select by (a list page's rows cost by their columns).
_SHOWN = [jobs.c[name] for name in (
    "locator", "reference_type", "reference_locator", "parent_locator", "status", "errors",
    "created_by", "created_at", "finished_at")]


def scoped(*also: sa.ColumnElement[Any], many_kinds: bool = False) -> sa.Select[Any]:
    """Jobs of some kinds for one reference (and `also` some columns of the caller's), as a
    statement to build once and bind per call, as `reference_params` gives."""
    kind = (jobs.c.kind.in_(sa.bindparam("kinds", expanding=True)) if many_kinds
            else jobs.c.kind == sa.bindparam("kind"))
    return sa.select(*_SHOWN, *also).where(
        jobs.c.tenant == sa.bindparam("tenant"),
        jobs.c.reference_type == sa.bindparam("reference_type"),
        jobs.c.reference_locator == sa.bindparam("reference_locator"),
        kind,
    )


def _statements(build: Callable[[sa.Select[Any]], sa.Select[Any]]) -> dict[bool, sa.Select[Any]]:
    return {many: build(scoped(many_kinds=many)) for many in (False, True)}


_PAGE = _statements(lambda query: paged(query.order_by(jobs.c.locator)))
_LATEST = _statements(lambda query: query.order_by(jobs.c.locator.desc()).limit(1))
_ONE = _statements(lambda query: query.where(jobs.c.locator == sa.bindparam("locator")))


def reference_params(tenant: str, reference_type: str, reference_locator: str,
                     kinds: Sequence[str], **extra: Any) -> dict[str, Any]:
    """The parameters of a `scoped` statement."""
    scope: dict[str, Any] = {"tenant": tenant, "reference_type": reference_type,
                             "reference_locator": reference_locator}
    scope |= {"kinds": list(kinds)} if len(kinds) > 1 else {"kind": kinds[0]}
    return scope | extra


async def list_reference_jobs(reads: Reads, *, tenant: str, reference_type: str,
                              reference_locator: str, kinds: Sequence[str], offset: int,
                              limit: int) -> Sequence[Row]:
    """Jobs of `kinds` for one reference, oldest first, from `offset`."""
    return await reads.all(_PAGE[len(kinds) > 1], reference_params(
        tenant, reference_type, reference_locator, kinds, offset=offset, limit=limit))


async def latest_reference_job(reads: Reads, *, tenant: str, reference_type: str,
                               reference_locator: str, kinds: Sequence[str]) -> Row:
    """The newest job of `kinds` for one reference, or `NotFound`."""
    row = await reads.first(_LATEST[len(kinds) > 1], reference_params(
        tenant, reference_type, reference_locator, kinds))
    return found(row, f"no job for {reference_type} {reference_locator}")


async def reference_job(reads: Reads, *, tenant: str, reference_type: str,
                        reference_locator: str, kinds: Sequence[str], locator: str) -> Row:
    """The job `locator` under one reference, or `NotFound`."""
    row = await reads.first(_ONE[len(kinds) > 1], reference_params(
        tenant, reference_type, reference_locator, kinds, locator=locator))
    return found(row, f"no job {locator} for {reference_type} {reference_locator}")


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
                                "its data (policyjobs migrate restores what an upgrade lost)")
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


async def reference_jobs_with_data(reads: Reads, job_data: JobData, *, tenant: str,
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


def get_reference_job(conn: sa.Connection, *, tenant: str, reference_type: str,
                      reference_locator: str, kinds: Sequence[str],
                      locator: str) -> sa.Row[Any]:
    """`reference_job` inside a transaction of the caller's, for a service that writes."""
    row = conn.execute(_ONE[len(kinds) > 1], reference_params(
        tenant, reference_type, reference_locator, kinds, locator=locator)).first()
    return found(row, f"no job {locator} for {reference_type} {reference_locator}")


_BY_LOCATOR = sa.select(*_SHOWN).where(jobs.c.locator == sa.bindparam("locator"),
                                       jobs.c.tenant == sa.bindparam("tenant"),
                                       jobs.c.kind == sa.bindparam("kind"))


async def job_of_kind(reads: Reads, *, tenant: str, kind: str, locator: str) -> Row:
    """The job `locator` of `kind` in the tenant, whatever its reference, or `NotFound`."""
    row = await reads.first(_BY_LOCATOR, {"locator": locator, "tenant": tenant, "kind": kind})
    return found(row, f"no job {locator}")


_CHILDREN = (sa.select(*_SHOWN)
             .where(jobs.c.parent_locator.in_(sa.bindparam("parents", expanding=True)))
             .order_by(jobs.c.locator))


async def children_of(reads: Reads, parents: Sequence[str]) -> Sequence[Row]:
    """The jobs whose parent is one of `parents`, oldest first."""
    if not parents:
        return []
    return await reads.all(_CHILDREN, {"parents": list(parents)})


def processing_errors(errors: Sequence[dict[str, Any]]) -> str | None:
    """A job's `processingErrors`: each failed attempt's error, one per line, or None."""
    if not errors:
        return None
    return "\n".join(f"attempt {e.get('attempt')}: {e.get('error')}" for e in errors)
