"""Reading documents jobs and documents for the API, always within one tenant and reference."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from policyjobs.api.conventions import set_present
from policyjobs.api.pagination import Page
from policyjobs.documents.models import documents, documents_jobs
from policyjobs.documents.schemas import (
    DocumentInstance,
    DocumentJobInfo,
    DocumentsJob,
    DocumentsJobSummary,
)
from policyjobs.documents.service import KIND
from policyjobs.engine import public_status
from policyjobs.engine.jobs import ACTIVE_STATUSES
from policyjobs.engine.schema import jobs
from policyjobs.exceptions import NotFound
from policyjobs.store.job_reads import (
    get_reference_job,
    list_reference_jobs,
    processing_errors,
    reference_params,
    scoped,
)


def summary(row: Any) -> DocumentsJobSummary:
    """A job row as a `DocumentsJobSummary`."""
    return DocumentsJobSummary(locator=row.locator, referenceType=row.reference_type,
                               status=public_status(row.status), createdAt=row.created_at)


def list_jobs(conn: sa.Connection, *, tenant: str, reference_type: str, reference_locator: str,
              page: Page) -> list[Any]:
    """A page (plus one row) of a reference's documents jobs."""
    return list(list_reference_jobs(conn, tenant=tenant, reference_type=reference_type,
                                    reference_locator=reference_locator, kinds=[KIND],
                                    offset=page.offset, limit=page.probe))


def job_row(conn: sa.Connection, *, tenant: str, reference_type: str, reference_locator: str,
            job_locator: str) -> Any:
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
_JOB = (scoped(documents_jobs.c.trigger, documents_jobs.c.timeout_seconds,
               documents_jobs.c.timed_out_at, _CHILDREN.label("children"))
        .join_from(jobs, documents_jobs, documents_jobs.c.job_locator == jobs.c.locator)
        .where(jobs.c.locator == sa.bindparam("locator")))
_DOCUMENTS = (sa.select(documents.c.locator, documents.c.static_name, documents.c.name,
                        documents.c.state, documents.c.processing_errors)
              .where(documents.c.job_locator == sa.bindparam("job"))
              .order_by(documents.c.locator))


def documents_job(conn: sa.Connection, *, tenant: str, reference_type: str,
                  reference_locator: str, job_locator: str) -> DocumentsJob:
    """The full `DocumentsJob`, or `NotFound` outside its tenant and reference."""
    row = conn.execute(_JOB, reference_params(tenant, reference_type, reference_locator,
                                              [KIND], locator=job_locator)).first()
    if row is None:
        raise NotFound(f"no job {job_locator} for {reference_type} {reference_locator}")
    docs = conn.execute(_DOCUMENTS, {"job": row.locator}).all()
    problems = [p for p in (processing_errors(row.errors),) if p]
    if row.timed_out_at is not None and row.status in ACTIVE_STATUSES:
        problems.append(f"timed out: still running past its deadline of {row.timeout_seconds} s "
                        f"(its worker hung or died, or rendering overran); "
                        f"POST …/trigger re-runs it")
    return DocumentsJob(
        locator=row.locator, referenceLocator=row.reference_locator,
        completedAt=row.finished_at, documentTrigger=row.trigger,
        processingErrors="\n".join(problems) or None, referenceType=row.reference_type,
        status=public_status(row.status), createdAt=row.created_at, createdBy=row.created_by,
        childrenJobs=sorted(row.children.split(",")) if row.children else [],
        documents=[DocumentJobInfo(locator=d.locator, staticName=d.static_name, name=d.name,
                                   documentInstanceState=d.state,
                                   processingErrors=d.processing_errors, state=d.state)
                   for d in docs],
    )


def document_row(conn: sa.Connection, *, tenant: str, locator: str) -> Any:
    """A document of the tenant, or `NotFound`."""
    row = conn.execute(sa.select(documents).where(documents.c.tenant == tenant,
                                                  documents.c.locator == locator)).first()
    if row is None:
        raise NotFound(f"no document {locator}")
    return row


def document_instance(row: Any) -> DocumentInstance:
    """A document row as the vendor's `DocumentInstanceResponse`."""
    view = DocumentInstance(
        locator=row.locator, referenceLocator=row.reference_locator,
        referenceType=row.reference_type, documentInstanceState=row.state,
        documentFormat=row.format, external=False, createdAt=row.created_at,
        consolidatedFrom=[], consolidatedTo=[], metadata={}, renderingData=row.rendering_data,
        name=row.name, staticName=row.static_name, createdBy=row.created_by,
    )
    set_present(view, readyAt=row.ready_at, processingErrors=row.processing_errors,
                transactionLocator=row.transaction_locator, segmentLocator=row.segment_locator,
                policyLocator=row.policy_locator, termLocator=row.term_locator)
    return view
