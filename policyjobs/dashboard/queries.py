"""What the dashboard reads of jobs, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import public_status
from policyjobs.engine.jobs import ACTIVE_STATUSES, JobStatus
from policyjobs.engine.schema import job_states, jobs
from policyjobs.store.reads import found

Row = sa.Row[Any]
PAGE = 25
# Jobs as the engine sees them now (a leased job is `leased`, at the attempt it runs).
_JOB = job_states
_SHOWN = [_JOB.c[name] for name in (
    "locator", "kind", "reference_type", "reference_locator", "parent_locator", "status",
    "attempt", "max_attempts", "errors", "created_at", "started_at", "finished_at")]


def per_day(conn: sa.Connection, *, tenant: str) -> dict[date, dict[str, int]]:
    """The tenant's jobs by the UTC date they were made on and the status the API shows,
    counted by the database: one row per day and status, however many jobs."""
    if conn.dialect.name == "postgresql":
        day = sa.func.to_char(sa.func.timezone("UTC", jobs.c.created_at), "YYYY-MM-DD",
                              type_=sa.String)
    else:  # SQLite keeps UTC times as text that starts with the date
        day = sa.func.substr(jobs.c.created_at, 1, 10, type_=sa.String)
    made: dict[date, dict[str, int]] = {}
    for made_on, status, count in conn.execute(
            sa.select(day, jobs.c.status, sa.func.count()).where(jobs.c.tenant == tenant)
            .group_by(day, jobs.c.status)):
        shown = made.setdefault(date.fromisoformat(made_on), {})
        shown[public_status(status)] = shown.get(public_status(status), 0) + count
    return made


def failed(conn: sa.Connection, *, tenant: str, limit: int = 10) -> Sequence[Row]:
    """The tenant's jobs that failed, latest first."""
    return conn.execute(sa.select(*_SHOWN).where(_JOB.c.tenant == tenant,
                                                 _JOB.c.status == JobStatus.FAILED)
                        .order_by(_JOB.c.locator.desc()).limit(limit)).all()


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
    query = sa.select(*_SHOWN).where(_JOB.c.tenant == tenant)
    if kind:
        query = query.where(_JOB.c.kind == kind)
    if reference:
        query = query.where(_JOB.c.reference_locator == reference)
    if status == "running":
        query = query.where(_JOB.c.status.in_([str(s) for s in ACTIVE_STATUSES]))
    elif status == "finished":
        query = query.where(_JOB.c.status.in_([JobStatus.FINISHED, JobStatus.CANCELLED]))
    elif status:
        query = query.where(_JOB.c.status == status)
    return conn.execute(query.order_by(_JOB.c.locator.desc())
                        .offset(offset).limit(PAGE + 1)).all()


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


def kinds(conn: sa.Connection, *, tenant: str) -> list[str]:
    """The kinds of the tenant's jobs."""
    return sorted(conn.execute(sa.select(jobs.c.kind).distinct()
                               .where(jobs.c.tenant == tenant)).scalars())
