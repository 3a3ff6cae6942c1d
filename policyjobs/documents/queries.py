"""Reading documents jobs and documents, always within one tenant (and, for jobs, one reference)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from policyjobs.documents.models import KIND, documents, documents_jobs
from policyjobs.engine import ACTIVE_STATUSES, JobStatus
from policyjobs.engine.view import JOBS as jobs
from policyjobs.engine.view import (
    get_reference_job,
    latest_reference_job,
    list_reference_jobs,
    reference_params,
    scoped,
)
from policyjobs.store.job_data import data_missing
from policyjobs.store.readers import Reads, Row
from policyjobs.store.scoping import TENANT, by_locator, found


async def list_jobs(reads: Reads, *, tenant: str, reference_type: str, reference_locator: str,
                    offset: int, limit: int) -> Sequence[Row]:
    """Up to `limit` of a reference's documents jobs from `offset`, oldest first."""
    return await list_reference_jobs(reads, tenant=tenant, reference_type=reference_type,
                                     reference_locator=reference_locator, kinds=[KIND],
                                     offset=offset, limit=limit)


async def latest_job(reads: Reads, *, tenant: str, reference_type: str,
                     reference_locator: str) -> Row:
    """A reference's newest documents job, or `NotFound`."""
    return await latest_reference_job(reads, tenant=tenant, reference_type=reference_type,
                                      reference_locator=reference_locator, kinds=[KIND])


def job_row(conn: sa.Connection, *, tenant: str, reference_type: str, reference_locator: str,
            job_locator: str) -> sa.Row[Any]:
    """The job row, or `NotFound` outside its tenant and reference."""
    return get_reference_job(conn, tenant=tenant, reference_type=reference_type,
                             reference_locator=reference_locator, kinds=[KIND],
                             locator=job_locator)


def timed_out(conn: sa.Connection, job_locator: str) -> bool:
    """Whether the job is marked timed out."""
    return conn.execute(sa.select(documents_jobs.c.timed_out_at)
                        .where(documents_jobs.c.job_locator == job_locator)).scalar() is not None


_CHILD = jobs.alias("child")
_CHILDREN = (sa.select(sa.func.aggregate_strings(_CHILD.c.locator, ","))
             .where(_CHILD.c.parent_locator == jobs.c.locator).scalar_subquery())
# A job with its trigger, timeout and children, once for each of its documents (or once
# with no document): one statement, one round trip.
_JOB = (scoped(documents_jobs.c.trigger, documents_jobs.c.timeout_seconds,
               documents_jobs.c.timed_out_at, _CHILDREN.label("children"),
               *(column.label(f"document_{column.name}") for column in (
                   documents.c.locator, documents.c.static_name, documents.c.name,
                   documents.c.state, documents.c.processing_errors,
                   documents.c.transaction_locator)))
        .outerjoin_from(jobs, documents_jobs, documents_jobs.c.job_locator == jobs.c.locator)
        .outerjoin(documents, documents.c.job_locator == jobs.c.locator)
        .where(jobs.c.locator == sa.bindparam("locator"))
        .order_by(documents.c.locator))


class DocumentOfJob(NamedTuple):
    """A document as its job lists it."""

    locator: str
    static_name: str
    name: str
    state: str
    processing_errors: str | None
    transaction_locator: str | None


async def documents_job(reads: Reads, *, tenant: str, reference_type: str,
                        reference_locator: str,
                        job_locator: str) -> tuple[Row, list[DocumentOfJob]]:
    """A documents job (with its trigger, timeout and children) and its documents, or
    `NotFound` outside its tenant and reference."""
    rows = await reads.all(_JOB, reference_params(tenant, reference_type, reference_locator,
                                                  [KIND], locator=job_locator))
    row = found(rows[0] if rows else None,
                f"no job {job_locator} for {reference_type} {reference_locator}")
    if row.trigger is None:
        raise data_missing(documents_jobs, job_locator)
    return row, [DocumentOfJob(r.document_locator, r.document_static_name, r.document_name,
                               r.document_state, r.document_processing_errors,
                               r.document_transaction_locator)
                 for r in rows if r.document_locator is not None]


_DOCUMENT = by_locator(documents)


def document_row(conn: sa.Connection, *, tenant: str, locator: str) -> sa.Row[Any]:
    """A document of the tenant, or `NotFound`."""
    return found(conn.execute(_DOCUMENT, {"tenant": tenant, "locator": locator}).first(),
                 f"no document {locator}")


async def read_document(reads: Reads, *, tenant: str, locator: str) -> Row:
    """`document_row`, awaited."""
    return found(await reads.first(_DOCUMENT, {"tenant": tenant, "locator": locator}),
                 f"no document {locator}")


# -- for the operators' pages ------------------------------------------------------------------

_TIMED_OUT = (sa.select(documents_jobs.c.job_locator)
              .join(jobs, jobs.c.locator == documents_jobs.c.job_locator)
              .where(documents_jobs.c.tenant == TENANT,
                     documents_jobs.c.timed_out_at.is_not(None),
                     jobs.c.status.in_([str(s) for s in ACTIVE_STATUSES]))
              .order_by(documents_jobs.c.job_locator.desc()).limit(sa.bindparam("limit")))


async def timed_out_jobs(reads: Reads, *, tenant: str, limit: int) -> list[str]:
    """The tenant's documents jobs that timed out and wait for a retrigger, newest first."""
    return [row.job_locator for row in await reads.all(_TIMED_OUT,
                                                        {"tenant": tenant, "limit": limit})]


_OF_JOB = (sa.select(documents)
           .where(documents.c.tenant == TENANT,
                  documents.c.job_locator == sa.bindparam("job"))
           .order_by(documents.c.locator))


async def documents_of(reads: Reads, *, tenant: str, job_locator: str) -> Sequence[Row]:
    """A documents job's documents, oldest first."""
    return await reads.all(_OF_JOB, {"tenant": tenant, "job": job_locator})


_TIMED_OUT_AT = sa.select(documents_jobs.c.timed_out_at).where(
    documents_jobs.c.job_locator == sa.bindparam("job"))


async def retriggerable(reads: Reads, *, status: str, job_locator: str) -> bool:
    """Whether a documents job may be re-run: it failed, or it timed out and waits."""
    if status == JobStatus.FAILED:
        return True
    if status not in ACTIVE_STATUSES:
        return False
    row = await reads.first(_TIMED_OUT_AT, {"job": job_locator})
    return row is not None and row.timed_out_at is not None
