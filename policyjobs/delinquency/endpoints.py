"""The delinquency endpoints: grace, create and event jobs; delinquencies and their events."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request, Security
from starlette.exceptions import HTTPException
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.conventions import json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.pagination import Page, list_response, page, short_page
from policyjobs.api.state import reads_of
from policyjobs.delinquency import queries
from policyjobs.delinquency.models import CREATE, EVENT, GRACE
from policyjobs.delinquency.schemas import (
    DelinquencyCreateJobData,
    DelinquencyCreateJobDataList,
    DelinquencyEventJobData,
    DelinquencyEventJobDataList,
    DelinquencyEventResponse,
    DelinquencyEventsResponse,
    DelinquencyListResponse,
    DelinquencyResponse,
    GraceJobData,
    GraceJobDataList,
)
from policyjobs.security.tokens import Principal

jobs_router = secured_router(prefix="/billing/{tenantLocator}/jobs/delinquencies",
                             tags=["delinquency"])
billing_router = secured_router(prefix="/billing/{tenantLocator}/delinquencies",
                                tags=["delinquency"])
JobsLister = Annotated[Principal, Security(guard("jobs", "read", "list"))]
Reader = Annotated[Principal, Security(guard("delinquencies", "read"))]
Lister = Annotated[Principal, Security(guard("delinquencies", "read", "list"))]
Tenant = Annotated[UUID, Path(description="The tenant's UUID.")]
Locator = Annotated[str, Path(min_length=1, max_length=64)]
Paged = Annotated[Page, Depends(page)]
ShortPage = Annotated[Page, Depends(short_page)]


@jobs_router.get("/invoices/{invoiceLocator}/list",
                 operation_id="fetchCreateDelinquenciesJobDataForInvoice",
                 response_model=DelinquencyCreateJobDataList)
async def fetch_create_jobs(request: Request, tenantLocator: Tenant, invoiceLocator: Locator,
                            _principal: JobsLister, page_: Paged) -> Response:
    """The jobs that checked an invoice at its due time."""
    reads = reads_of(request)
    records = await queries.job_records(reads, tenant=str(tenantLocator), reference_type="invoice",
                                        reference_locator=invoiceLocator, kind=CREATE,
                                        offset=page_.offset, limit=page_.probe)
    return list_response(records, page_, DelinquencyCreateJobData.of)


@jobs_router.get("/moratoriums/list", include_in_schema=False)
async def no_moratorium_jobs() -> Response:
    """The vendor's moratorium jobs are not part of this service: their list is answered
    as any route it lacks, not taken for the grace jobs of a delinquency "moratoriums"."""
    raise HTTPException(404)


@jobs_router.get("/{delinquencyLocator}/list", operation_id="fetchDelinquencyGraceJob",
                 response_model=GraceJobDataList)
async def fetch_grace_jobs(request: Request, tenantLocator: Tenant, delinquencyLocator: Locator,
                           _principal: JobsLister, page_: Paged) -> Response:
    """A delinquency's grace jobs (a new one each time its grace end moves)."""
    reads = reads_of(request)
    records = await queries.job_records(reads, tenant=str(tenantLocator),
                                        reference_type="delinquency",
                                        reference_locator=delinquencyLocator, kind=GRACE,
                                        offset=page_.offset, limit=page_.probe)
    return list_response(records, page_, GraceJobData.of)


@jobs_router.get("/{delinquencyLocator}/events/list", operation_id="fetchDelinquencyEventJobs",
                 response_model=DelinquencyEventJobDataList)
async def fetch_event_jobs(request: Request, tenantLocator: Tenant, delinquencyLocator: Locator,
                           _principal: JobsLister, page_: ShortPage) -> Response:
    """A delinquency's event jobs, fired, pending or cancelled."""
    reads = reads_of(request)
    records = await queries.job_records(reads, tenant=str(tenantLocator),
                                        reference_type="delinquency",
                                        reference_locator=delinquencyLocator, kind=EVENT,
                                        offset=page_.offset, limit=page_.probe)
    return list_response(records, page_, DelinquencyEventJobData.of)


@billing_router.get("/invoices/{invoiceLocator}/list", operation_id="getDelinquenciesForInvoice",
                    response_model=DelinquencyListResponse)
async def fetch_invoice_delinquencies(request: Request, tenantLocator: Tenant,
                                      invoiceLocator: Locator, _principal: Lister,
                                      page_: Paged) -> Response:
    """An invoice's delinquency, if it has one."""
    reads = reads_of(request)
    rows = await queries.of_invoice(reads, tenant=str(tenantLocator), invoice=invoiceLocator,
                                    offset=page_.offset, limit=page_.probe)
    return list_response(rows, page_, DelinquencyResponse.of)


@billing_router.get("/events/{delinquencyEventLocator}", operation_id="fetchDelinquencyEvent",
                    response_model=DelinquencyEventResponse)
async def fetch_event(request: Request, tenantLocator: Tenant, delinquencyEventLocator: Locator,
                      _principal: Reader) -> Response:
    """One delinquency event."""
    reads = reads_of(request)
    row = await queries.event(reads, tenant=str(tenantLocator), locator=delinquencyEventLocator)
    return json_response(DelinquencyEventResponse.of(row))


@billing_router.get("/{delinquencyLocator}/events/list", operation_id="fetchDelinquencyEvents",
                    response_model=DelinquencyEventsResponse)
async def fetch_events(request: Request, tenantLocator: Tenant, delinquencyLocator: Locator,
                       _principal: Lister, page_: ShortPage) -> Response:
    """A delinquency's events, oldest first."""
    reads = reads_of(request)
    found = await queries.delinquency(reads, tenant=str(tenantLocator), locator=delinquencyLocator)
    rows = await queries.events_of(reads, tenant=str(tenantLocator),
                                   delinquency_locator=delinquencyLocator, offset=page_.offset,
                                   limit=page_.probe)
    return json_response(DelinquencyEventsResponse(
        accountLocator=found.account_locator, delinquencyLocator=found.locator,
        listCompleted=len(rows) <= page_.count,
        items=[DelinquencyEventResponse.of(row) for row in rows[:page_.count]]))


@billing_router.get("/{locator}", operation_id="getDelinquency",
                    response_model=DelinquencyResponse)
async def fetch_delinquency(request: Request, tenantLocator: Tenant, locator: Locator,
                            _principal: Reader) -> Response:
    """One delinquency."""
    reads = reads_of(request)
    row = await queries.delinquency(reads, tenant=str(tenantLocator), locator=locator)
    return json_response(DelinquencyResponse.of(row))
