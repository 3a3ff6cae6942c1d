"""The documents endpoints: jobs by quote, transaction, segment and invoice; documents and files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, Security
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response, StreamingResponse

from policyjobs.api.auth import guard
from policyjobs.api.conventions import json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.pagination import Page, list_response, page
from policyjobs.api.state import reads_of, runtime_of
from policyjobs.documents import queries, service
from policyjobs.documents.schemas import (
    DocumentInstance,
    DocumentsJob,
    DocumentsJobList,
    DocumentsJobSummary,
)
from policyjobs.documents.storage import Storage
from policyjobs.security import audit
from policyjobs.security.audit import Actor
from policyjobs.security.tokens import Principal

Reader = Annotated[Principal, Security(guard("documents", "read"))]
Trigger = Annotated[Principal, Security(guard("documents", "trigger"))]
Tenant = Annotated[UUID, Path(description="The tenant's UUID.")]
Locator = Annotated[str, Path(min_length=1, max_length=64)]
Paged = Annotated[Page, Depends(page)]
PRESIGNED_FOR = timedelta(minutes=5)  # how long a presigned URL of a file serves


def _list(reference_type: str) -> Callable[..., Awaitable[Response]]:
    async def list_documents_jobs(request: Request, tenantLocator: Tenant, locator: Locator,
                                  _principal: Reader, page_: Paged) -> Response:
        rows = await queries.list_jobs(reads_of(request), tenant=str(tenantLocator),
                                       reference_type=reference_type, reference_locator=locator,
                                       offset=page_.offset, limit=page_.probe)
        return list_response(rows, page_, DocumentsJobSummary.of)

    return list_documents_jobs


def _fetch(reference_type: str) -> Callable[..., Awaitable[Response]]:
    async def fetch_documents_job(request: Request, tenantLocator: Tenant, locator: Locator,
                                  jobLocator: Locator, _principal: Reader) -> Response:
        row, documents = await queries.documents_job(
            reads_of(request), tenant=str(tenantLocator), reference_type=reference_type,
            reference_locator=locator, job_locator=jobLocator)
        return json_response(DocumentsJob.of(row, documents, service.job_problems(row)))

    return fetch_documents_job


def _latest(reference_type: str) -> Callable[..., Awaitable[Response]]:
    async def fetch_latest_documents_job(request: Request, tenantLocator: Tenant,
                                         locator: Locator, _principal: Reader) -> Response:
        row = await queries.latest_job(reads_of(request), tenant=str(tenantLocator),
                                       reference_type=reference_type, reference_locator=locator)
        return json_response(DocumentsJobSummary.of(row))

    return fetch_latest_documents_job


def _trigger_timed_out(reference_type: str) -> Callable[..., Response]:
    def trigger_timed_out_documents_jobs(request: Request, tenantLocator: Tenant,
                                         locator: Locator, principal: Trigger) -> Response:
        runtime, tenant = runtime_of(request), str(tenantLocator)
        with runtime.db.begin() as conn:
            rerun = service.retrigger_timed_out(
                conn, runtime.queue, tenant=tenant, reference_type=reference_type,
                reference_locator=locator)
            if rerun:
                audit.record(conn, Actor.of(principal), "documents.retrigger",
                             at=runtime.clock.now(), tenant=tenant, jobLocators=list(rerun),
                             referenceType=reference_type, referenceLocator=locator)
            rows = [queries.job_row(conn, tenant=tenant, reference_type=reference_type,
                                    reference_locator=locator, job_locator=job)
                    for job in rerun]
        return json_response([DocumentsJobSummary.of(row) for row in rows])

    return trigger_timed_out_documents_jobs


def _trigger_one(reference_type: str) -> Callable[..., Response]:
    def trigger_documents_job(request: Request, tenantLocator: Tenant, locator: Locator,
                              jobLocator: Locator, principal: Trigger) -> Response:
        runtime, tenant = runtime_of(request), str(tenantLocator)
        with runtime.db.begin() as conn:
            service.retrigger_job(conn, runtime.queue, tenant=tenant,
                                  reference_type=reference_type, reference_locator=locator,
                                  job_locator=jobLocator)
            audit.record(conn, Actor.of(principal), "documents.retrigger",
                         at=runtime.clock.now(), tenant=tenant, jobLocators=[jobLocator],
                         referenceType=reference_type, referenceLocator=locator)
            row = queries.job_row(conn, tenant=tenant, reference_type=reference_type,
                                  reference_locator=locator, job_locator=jobLocator)
        return json_response(DocumentsJobSummary.of(row))

    return trigger_documents_job


def documents_router(storage: Storage, *, presigned: bool = False) -> APIRouter:
    """The documents routes, serving files from `storage`."""
    router = secured_router(prefix="/document/{tenantLocator}/documents", tags=["documents"])
    for path, title in (("quote", "Quote"), ("transaction", "Transaction"),
                        ("segment", "Segment")):
        router.add_api_route(
            f"/{path}/{{locator}}/jobs/list", _list(path), methods=["GET"],
            operation_id=f"fetchMultipleDocumentsJobsFor{title}",
            response_model=DocumentsJobList, summary=f"Fetch multiple documents jobs for a {path}")
        router.add_api_route(
            f"/{path}/{{locator}}/jobs/{{jobLocator}}", _fetch(path), methods=["GET"],
            operation_id=f"fetchDocumentsJobFor{title}", response_model=DocumentsJob,
            summary=f"Fetch a documents job for a {path}")
        router.add_api_route(
            f"/{path}/{{locator}}/trigger", _trigger_timed_out(path), methods=["POST"],
            operation_id=f"triggerTimedOutDocumentsJobFor{title}",
            response_model=list[DocumentsJobSummary],
            summary=f"Re-run the timed-out documents jobs of a {path}")
        router.add_api_route(
            f"/{path}/{{locator}}/jobs/{{jobLocator}}/trigger", _trigger_one(path),
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
        "/invoices/{locator}/jobs/{jobLocator}/trigger", _trigger_one("invoice"),
        methods=["POST"], operation_id="triggerFailedDocumentJobForInvoice",
        response_model=DocumentsJobSummary,
        summary="Re-run one failed or timed-out documents job of an invoice")

    @router.get("/{locator}", operation_id="fetchDocument", response_model=DocumentInstance)
    async def fetch_document(request: Request, tenantLocator: Tenant, locator: Locator,
                             _principal: Reader) -> Response:
        """A document's metadata."""
        row = await queries.read_document(reads_of(request), tenant=str(tenantLocator),
                                          locator=locator)
        return json_response(DocumentInstance.of(row))

    @router.get("/{locator}/document", operation_id="fetchDocumentResource",
                response_class=Response, responses={
                    200: {"content": {"application/pdf": {}, "text/html": {},
                                      "text/plain": {}}},
                    307: {"description": "With `POLICYJOBS_DOCUMENTS_SERVE=presigned`: the "
                                         "file at a presigned URL of the bucket, for "
                                         f"{PRESIGNED_FOR.seconds // 60} minutes"}})
    async def fetch_document_file(request: Request, tenantLocator: Tenant, locator: Locator,
                                  _principal: Reader) -> Response:
        """The rendered file, with its content type."""
        row = await queries.read_document(reads_of(request), tenant=str(tenantLocator),
                                          locator=locator)
        key, name = service.stored_file(row)
        # Signing may fetch the instance's credentials first: off the event loop.
        if presigned and (link := await run_in_threadpool(storage.link, key,
                                                          PRESIGNED_FOR)) is not None:
            return RedirectResponse(link, status_code=307)
        try:
            download = await storage.open(key)
        except FileNotFoundError:
            raise service.missing_file(row) from None
        return StreamingResponse(download.chunks, media_type=row.content_type, headers={
            "Content-Length": str(download.size),
            "Content-Disposition": f'inline; filename="{name}"'})

    return router
