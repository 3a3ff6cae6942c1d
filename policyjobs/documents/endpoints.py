"""The documents endpoints: jobs by quote, transaction, segment and invoice; documents and files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Path, Request, Security
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.conventions import json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.pagination import Page, list_response, page
from policyjobs.api.state import runtime_of
from policyjobs.documents import queries, service
from policyjobs.documents.schemas import (
    DocumentInstance,
    DocumentsJob,
    DocumentsJobList,
    DocumentsJobSummary,
)
from policyjobs.documents.storage import storage_for
from policyjobs.engine.clock import wall_now
from policyjobs.engine.jobs import ACTIVE_STATUSES, JobStatus
from policyjobs.exceptions import Conflict
from policyjobs.security.tokens import Principal
from policyjobs.store.database import reader
from policyjobs.store.job_reads import latest_reference_job

router = secured_router(prefix="/document/{tenantLocator}/documents", tags=["documents"])
Reader = Annotated[Principal, Security(guard("documents", "read"))]
Trigger = Annotated[Principal, Security(guard("documents", "trigger"))]
Tenant = Annotated[UUID, Path(description="The tenant's UUID.")]
Locator = Annotated[str, Path(min_length=1, max_length=64)]


def _list(reference_type: str) -> Callable[..., Response]:
    def list_documents_jobs(request: Request, tenantLocator: Tenant, locator: Locator,
                            _principal: Reader, page_: Annotated[Page, Depends(page)]) -> Response:
        with reader(runtime_of(request).db).connect() as conn:
            rows = queries.list_jobs(conn, tenant=str(tenantLocator), reference_type=reference_type,
                                     reference_locator=locator, page=page_)
        return list_response(rows, page_, queries.summary)

    return list_documents_jobs


def _fetch(reference_type: str) -> Callable[..., Response]:
    def fetch_documents_job(request: Request, tenantLocator: Tenant, locator: Locator,
                            jobLocator: Locator, _principal: Reader) -> Response:
        with reader(runtime_of(request).db).connect() as conn:
            job = queries.documents_job(conn, tenant=str(tenantLocator),
                                        reference_type=reference_type, reference_locator=locator,
                                        job_locator=jobLocator)
        return json_response(job)

    return fetch_documents_job


def _latest(reference_type: str) -> Callable[..., Response]:
    def fetch_latest_documents_job(request: Request, tenantLocator: Tenant, locator: Locator,
                                   _principal: Reader) -> Response:
        with reader(runtime_of(request).db).connect() as conn:
            row = latest_reference_job(conn, tenant=str(tenantLocator),
                                       reference_type=reference_type, reference_locator=locator,
                                       kinds=[service.KIND])
        return json_response(queries.summary(row))

    return fetch_latest_documents_job


def _trigger_timed_out(reference_type: str) -> Callable[..., Response]:
    def trigger_timed_out_documents_jobs(request: Request, tenantLocator: Tenant,
                                         locator: Locator, _principal: Trigger) -> Response:
        runtime = runtime_of(request)
        with runtime.db.begin() as conn:
            rerun = service.retrigger_timed_out(
                conn, runtime.queue, tenant=str(tenantLocator), reference_type=reference_type,
                reference_locator=locator)
            rows = [queries.job_row(conn, tenant=str(tenantLocator),
                                    reference_type=reference_type, reference_locator=locator,
                                    job_locator=job) for job in rerun]
        return json_response([queries.summary(row) for row in rows])

    return trigger_timed_out_documents_jobs


def _trigger_one(reference_type: str) -> Callable[..., Response]:
    def trigger_documents_job(request: Request, tenantLocator: Tenant, locator: Locator,
                              jobLocator: Locator, _principal: Trigger) -> Response:
        runtime = runtime_of(request)
        scope: dict[str, Any] = {"tenant": str(tenantLocator), "reference_type": reference_type,
                                 "reference_locator": locator, "job_locator": jobLocator}
        with runtime.db.begin() as conn:
            row = queries.job_row(conn, **scope)
            stuck = row.status in ACTIVE_STATUSES and queries.timed_out(conn, jobLocator)
            if row.status != JobStatus.FAILED and not stuck:
                raise Conflict(f"documents job {jobLocator} is neither failed nor timed out; "
                               "there is nothing to re-run")
            if row.status == JobStatus.LEASED and row.lease_expires_at > wall_now():
                raise Conflict(f"documents job {jobLocator} timed out and its worker is "
                               "stopping it; trigger it again in a moment")
            service.retrigger_job(conn, runtime.queue, tenant=str(tenantLocator),
                                  job_locator=jobLocator, status=row.status)
            row = queries.job_row(conn, **scope)
        return json_response(queries.summary(row))

    return trigger_documents_job



for path, reference_type, title in (("quote", "quote", "Quote"),
                                    ("transaction", "transaction", "Transaction"),
                                    ("segment", "segment", "Segment")):
    router.add_api_route(
        f"/{path}/{{locator}}/jobs/list", _list(reference_type), methods=["GET"],
        operation_id=f"fetchMultipleDocumentsJobsFor{title}", response_model=DocumentsJobList,
        summary=f"Fetch multiple documents jobs for a {path}")
    router.add_api_route(
        f"/{path}/{{locator}}/jobs/{{jobLocator}}", _fetch(reference_type), methods=["GET"],
        operation_id=f"fetchDocumentsJobFor{title}", response_model=DocumentsJob,
        summary=f"Fetch a documents job for a {path}")
    router.add_api_route(
        f"/{path}/{{locator}}/trigger", _trigger_timed_out(reference_type), methods=["POST"],
        operation_id=f"triggerTimedOutDocumentsJobFor{title}",
        response_model=list[DocumentsJobSummary],
        summary=f"Re-run the timed-out documents jobs of a {path}")
    router.add_api_route(
        f"/{path}/{{locator}}/jobs/{{jobLocator}}/trigger", _trigger_one(reference_type),
        methods=["POST"], operation_id=f"triggerFailedDocumentJobFor{title}",
        response_model=DocumentsJobSummary,
        summary=f"Re-run one failed or timed-out documents job of a {path}")

router.add_api_route(
    "/invoices/{locator}/jobs", _latest("invoice"), methods=["GET"],
    operation_id="getDocumentJob", response_model=DocumentsJobSummary,
    summary="Fetch the latest documents job of an invoice")
router.add_api_route(
    "/invoices/{locator}/jobs/{jobLocator}", _fetch("invoice"), methods=["GET"],
    operation_id="fetchDocumentJob", response_model=DocumentsJob,
    summary="Fetch a documents job for an invoice")
router.add_api_route(
    "/invoices/{locator}/trigger", _trigger_timed_out("invoice"), methods=["POST"],
    operation_id="triggerTimedOutJob", response_model=list[DocumentsJobSummary],
    summary="Re-run the timed-out documents jobs of an invoice")
router.add_api_route(
    "/invoices/{locator}/jobs/{jobLocator}/trigger", _trigger_one("invoice"), methods=["POST"],
    operation_id="triggerFailedDocumentJobForInvoice", response_model=DocumentsJobSummary,
    summary="Re-run one failed or timed-out documents job of an invoice")


@router.get("/{locator}", operation_id="fetchDocument", response_model=DocumentInstance)
def fetch_document(request: Request, tenantLocator: Tenant, locator: Locator,
                   _principal: Reader) -> Response:
    """A document's metadata."""
    with reader(runtime_of(request).db).connect() as conn:
        row = queries.document_row(conn, tenant=str(tenantLocator), locator=locator)
    return json_response(queries.document_instance(row))


@router.get("/{locator}/document", operation_id="fetchDocumentResource",
            response_class=Response, responses={200: {"content": {
                "application/pdf": {}, "text/html": {}, "text/plain": {}}}})
def fetch_document_file(request: Request, tenantLocator: Tenant, locator: Locator,
                        _principal: Reader) -> Response:
    """The rendered file, with its content type."""
    runtime = runtime_of(request)
    with reader(runtime.db).connect() as conn:
        row = queries.document_row(conn, tenant=str(tenantLocator), locator=locator)
    if row.state != "ready" or row.storage_key is None:
        raise Conflict(f"document {locator} is not ready: its state is {row.state}")
    content = storage_for(runtime.settings.home).get(row.storage_key)
    name = row.storage_key.rsplit("/", 1)[-1]
    return Response(content, media_type=row.content_type,
                    headers={"Content-Disposition": f'inline; filename="{name}"'})
