"""The engine's read model: what the rest of the product reads of jobs, and how.

A job, as readers see it, is its row of `JOBS` through the columns of `JOB_VIEW`: its
locator, tenant, kind, reference, parent, status (the engine's: `JobStatus`; the API shows
`public_status`), errors, who made it and when it was made and ended. A domain joins its
own rows to a job by `JOBS.c.locator`, and reads a job's payload and result where it needs
them; nothing else of the engine's tables (the queue, the marks) is anyone else's.

The reads here are statements built once and awaited on a `Reader` (the API's reads,
`store.readers`), or run on a connection inside a caller's transaction. Jobs are read by
tenant, reference and kind, in locator order: every lookup walks the `jobs_reference`
index (tenant, reference locator, reference type, kind, locator), so a page costs the same
in a table of any size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from policyjobs.engine.clock import wall_now
from policyjobs.engine.schema import held, jobs, unheld
from policyjobs.exceptions import NotFound

JOBS = jobs  # the jobs' rows, for a domain to join its own to by `locator`; read only
Row = Any  # a row whose columns are its attributes
Statement = sa.Select[Any]


class Reader(Protocol):
    """Reads awaited on the event loop (`store.readers.Reads` is one)."""

    @property
    def dialect(self) -> str:
        """The store's dialect: `postgresql` or `sqlite`."""
        ...

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Row]:
        """Every row `statement` selects with `params` bound."""
        ...

    async def first(self, statement: Statement, params: Mapping[str, Any]) -> Row | None:
        """The first row, or None."""
        ...


# What readers see of a job, and no more: never its payload or result, which can be large,
# nor what the engine only runs it by (a list page's rows cost by their columns).
JOB_VIEW = [jobs.c[name] for name in (
    "locator", "reference_type", "reference_locator", "parent_locator", "status", "errors",
    "created_by", "created_at", "finished_at")]


def processing_errors(errors: Sequence[Mapping[str, Any]]) -> str | None:
    """A job's `processingErrors`: each failed attempt's error, one per line, or None."""
    if not errors:
        return None
    return "\n".join(f"attempt {e.get('attempt')}: {e.get('error')}" for e in errors)


def held_now() -> sa.Exists:
    """Whether a live worker holds the job now."""
    return held(wall_now())


def unheld_now() -> sa.ColumnElement[bool]:
    """Whether the job waits in the queue and no live worker holds it now (due, or leased by
    a worker whose lease ran out)."""
    return unheld(wall_now())


def scoped(*also: sa.ColumnElement[Any], many_kinds: bool = False) -> Statement:
    """Jobs of some kinds for one reference (and `also` some columns of the caller's), as a
    statement to build once and bind per call, as `reference_params` gives."""
    kind = (jobs.c.kind.in_(sa.bindparam("kinds", expanding=True)) if many_kinds
            else jobs.c.kind == sa.bindparam("kind"))
    return sa.select(*JOB_VIEW, *also).where(
        jobs.c.tenant == sa.bindparam("tenant"),
        jobs.c.reference_type == sa.bindparam("reference_type"),
        jobs.c.reference_locator == sa.bindparam("reference_locator"),
        kind,
    )


def _paged(statement: Statement) -> Statement:
    """`statement`'s page, from `offset` and `limit` bound per call."""
    return statement.offset(sa.bindparam("offset")).limit(sa.bindparam("limit"))


def _statements(build: Callable[[Statement], Statement]) -> dict[bool, Statement]:
    return {many: build(scoped(many_kinds=many)) for many in (False, True)}


_PAGE = _statements(lambda query: _paged(query.order_by(jobs.c.locator)))
_LATEST = _statements(lambda query: query.order_by(jobs.c.locator.desc()).limit(1))
_ONE = _statements(lambda query: query.where(jobs.c.locator == sa.bindparam("locator")))


def reference_params(tenant: str, reference_type: str, reference_locator: str,
                     kinds: Sequence[str], **extra: Any) -> dict[str, Any]:
    """The parameters of a `scoped` statement."""
    scope: dict[str, Any] = {"tenant": tenant, "reference_type": reference_type,
                             "reference_locator": reference_locator}
    scope |= {"kinds": list(kinds)} if len(kinds) > 1 else {"kind": kinds[0]}
    return scope | extra


T = TypeVar("T")


def _found(row: T | None, missing: str) -> T:
    if row is None:
        raise NotFound(missing)
    return row


async def list_reference_jobs(reads: Reader, *, tenant: str, reference_type: str,
                              reference_locator: str, kinds: Sequence[str], offset: int,
                              limit: int) -> Sequence[Row]:
    """Jobs of `kinds` for one reference, oldest first, from `offset`."""
    return await reads.all(_PAGE[len(kinds) > 1], reference_params(
        tenant, reference_type, reference_locator, kinds, offset=offset, limit=limit))


async def latest_reference_job(reads: Reader, *, tenant: str, reference_type: str,
                               reference_locator: str, kinds: Sequence[str]) -> Row:
    """The newest job of `kinds` for one reference, or `NotFound`."""
    row = await reads.first(_LATEST[len(kinds) > 1], reference_params(
        tenant, reference_type, reference_locator, kinds))
    return _found(row, f"no job for {reference_type} {reference_locator}")


async def reference_job(reads: Reader, *, tenant: str, reference_type: str,
                        reference_locator: str, kinds: Sequence[str], locator: str) -> Row:
    """The job `locator` under one reference, or `NotFound`."""
    row = await reads.first(_ONE[len(kinds) > 1], reference_params(
        tenant, reference_type, reference_locator, kinds, locator=locator))
    return _found(row, f"no job {locator} for {reference_type} {reference_locator}")


def get_reference_job(conn: sa.Connection, *, tenant: str, reference_type: str,
                      reference_locator: str, kinds: Sequence[str],
                      locator: str) -> sa.Row[Any]:
    """`reference_job` inside a transaction of the caller's, for a service that writes."""
    row = conn.execute(_ONE[len(kinds) > 1], reference_params(
        tenant, reference_type, reference_locator, kinds, locator=locator)).first()
    return _found(row, f"no job {locator} for {reference_type} {reference_locator}")


_BY_LOCATOR = sa.select(*JOB_VIEW).where(jobs.c.locator == sa.bindparam("locator"),
                                         jobs.c.tenant == sa.bindparam("tenant"),
                                         jobs.c.kind == sa.bindparam("kind"))


async def job_of_kind(reads: Reader, *, tenant: str, kind: str, locator: str) -> Row:
    """The job `locator` of `kind` in the tenant, whatever its reference, or `NotFound`."""
    row = await reads.first(_BY_LOCATOR, {"locator": locator, "tenant": tenant, "kind": kind})
    return _found(row, f"no job {locator}")


_CHILDREN = (sa.select(*JOB_VIEW)
             .where(jobs.c.parent_locator.in_(sa.bindparam("parents", expanding=True)))
             .order_by(jobs.c.locator))


async def children_of(reads: Reader, parents: Sequence[str]) -> Sequence[Row]:
    """The jobs whose parent is one of `parents`, oldest first."""
    if not parents:
        return []
    return await reads.all(_CHILDREN, {"parents": list(parents)})
