"""The invoicing endpoints: generation runs by quote and policy, an account's invoicing jobs,
early invoicing, and invoices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.conventions import json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.pagination import Page, list_response, page, short_page
from policyjobs.api.state import reads_of, runtime_of
from policyjobs.exceptions import FieldProblem, InvalidInput
from policyjobs.invoicing import queries, service
from policyjobs.invoicing.ports import Installments
from policyjobs.invoicing.schemas import (
    AccountCredit,
    EarlyInvoicingJobData,
    EarlyInvoicingJobDataList,
    EarlyInvoicingRequest,
    EarlyInvoicingResponse,
    InvoiceGenerationJob,
    InvoiceGenerationJobList,
    InvoiceListResponse,
    InvoiceResponse,
    InvoiceSummaryView,
    InvoicingJobData,
    InvoicingJobDataList,
)
from policyjobs.money import is_currency
from policyjobs.security.tokens import Principal

jobs_router = secured_router(prefix="/billing/{tenantLocator}/jobs", tags=["invoicing"])
billing_router = secured_router(prefix="/billing/{tenantLocator}", tags=["invoicing"])
JobsLister = Annotated[Principal, Security(guard("jobs", "read", "list"))]
JobsReader = Annotated[Principal, Security(guard("jobs", "read"))]
InvoiceReader = Annotated[Principal, Security(guard("invoices", "read"))]
InvoiceLister = Annotated[Principal, Security(guard("invoices", "read", "list"))]
InvoiceWriter = Annotated[Principal, Security(guard("invoices", "write"))]
Tenant = Annotated[UUID, Path(description="The tenant's UUID.")]
Locator = Annotated[str, Path(min_length=1, max_length=64)]
ShortPage = Annotated[Page, Depends(short_page)]
Paged = Annotated[Page, Depends(page)]


def _generation_jobs(reference_type: str) -> Callable[..., Awaitable[Response]]:
    async def fetch_invoice_generation_jobs(request: Request, tenantLocator: Tenant,
                                            locator: Locator, _principal: JobsLister,
                                            page_: ShortPage) -> Response:
        reads = reads_of(request)
        records = await queries.generation_jobs(reads, tenant=str(tenantLocator),
                                                reference_type=reference_type,
                                                reference_locator=locator, offset=page_.offset,
                                                limit=page_.probe)
        return list_response(records, page_, InvoiceGenerationJob.of)

    return fetch_invoice_generation_jobs


for path, reference_type, title in (("quotes", "quote", "Quote"),
                                    ("policies", "policy", "Policy")):
    jobs_router.add_api_route(
        f"/invoices/{path}/{{locator}}/list", _generation_jobs(reference_type), methods=["GET"],
        operation_id=f"fetchInvoiceJobsFor{title}", response_model=InvoiceGenerationJobList,
        deprecated=True,
        summary=f"Fetch the invoice generation runs that billed a {reference_type}")


@jobs_router.get("/invoicing/accounts/{locator}/list", operation_id="fetchInvoicingJobsForAccount",
                 response_model=InvoicingJobDataList)
async def fetch_invoicing_jobs(request: Request, tenantLocator: Tenant, locator: Locator,
                               _principal: JobsLister, page_: ShortPage) -> Response:
    """An account's immediate and early invoicing jobs, oldest first."""
    reads = reads_of(request)
    records = await queries.account_jobs(reads, tenant=str(tenantLocator), account=locator,
                                         offset=page_.offset, limit=page_.probe)
    return list_response(records, page_, InvoicingJobData.of)


@jobs_router.get("/invoicing/{jobLocator}", operation_id="fetchInvoicingJob",
                 response_model=InvoicingJobData)
async def fetch_invoicing_job(request: Request, tenantLocator: Tenant, jobLocator: Locator,
                              _principal: JobsReader) -> Response:
    """One immediate or early invoicing job."""
    reads = reads_of(request)
    record = await queries.account_job(reads, tenant=str(tenantLocator), locator=jobLocator)
    return json_response(InvoicingJobData.of(record))


@jobs_router.get("/earlyInvoicing/{jobLocator}", operation_id="fetchEarlyInvoicingJob",
                 response_model=EarlyInvoicingJobData, deprecated=True)
async def fetch_early_invoicing_job(request: Request, tenantLocator: Tenant, jobLocator: Locator,
                                    _principal: JobsReader) -> Response:
    """One early invoicing job."""
    reads = reads_of(request)
    record = await queries.account_job(reads, tenant=str(tenantLocator), locator=jobLocator,
                                       early_only=True)
    return json_response(EarlyInvoicingJobData.of(record))


@jobs_router.get("/earlyInvoicing/accounts/{locator}/list",
                 operation_id="fetchEarlyInvoicingJobsForAccount",
                 response_model=EarlyInvoicingJobDataList, deprecated=True)
async def fetch_early_invoicing_jobs(request: Request, tenantLocator: Tenant, locator: Locator,
                                     _principal: JobsLister, page_: ShortPage) -> Response:
    """An account's early invoicing jobs, oldest first."""
    reads = reads_of(request)
    records = await queries.account_jobs(reads, tenant=str(tenantLocator), account=locator,
                                         offset=page_.offset, limit=page_.probe, early_only=True)
    return list_response(records, page_, EarlyInvoicingJobData.of)


@billing_router.get("/invoices/accounts/{accountLocator}/list",
                    operation_id="fetchInvoicesForAccount", response_model=InvoiceListResponse)
async def fetch_account_invoices(
    request: Request, tenantLocator: Tenant, accountLocator: Locator, _principal: InvoiceLister,
    page_: Paged,
    includeZeroAmountInvoices: Annotated[bool, Query(
        description="Also list invoices whose total is zero.")] = False,
) -> Response:
    """An account's invoices, oldest first."""
    reads = reads_of(request)
    rows = await queries.account_invoices(reads, tenant=str(tenantLocator),
                                          account=accountLocator, offset=page_.offset,
                                          limit=page_.probe,
                                          include_zero=includeZeroAmountInvoices)
    return list_response(rows, page_, InvoiceSummaryView.of)


@billing_router.get("/accounts/{accountLocator}/credit", operation_id="fetchAccountCredit",
                    response_model=AccountCredit)
async def fetch_account_credit(
    request: Request, tenantLocator: Tenant, accountLocator: Locator, _principal: InvoiceReader,
    currency: Annotated[str | None, Query(
        pattern="^[A-Z]{3}$", description="An ISO 4217 currency; the tenant's by default.")]
    = None,
) -> Response:
    """What the account is owed back in a currency (overpayments, credit invoices), which
    its next invoices use."""
    if currency is not None and not is_currency(currency):
        raise InvalidInput(f"{currency!r} is not an ISO 4217 currency",
                           [FieldProblem("currency", "not an ISO 4217 currency")])
    chosen, amount = await queries.account_credit(reads_of(request), tenant=str(tenantLocator),
                                                  account=accountLocator, currency=currency)
    return json_response(AccountCredit(accountLocator=accountLocator, currency=chosen,
                                       amount=amount))


@billing_router.get("/invoices/{locator}", operation_id="getInvoiceWithItems",
                    response_model=InvoiceResponse)
async def fetch_invoice(request: Request, tenantLocator: Tenant, locator: Locator,
                        _principal: InvoiceReader) -> Response:
    """One invoice with its items, and what payments left of each."""
    reads = reads_of(request)
    record = await queries.invoice(reads, tenant=str(tenantLocator), locator=locator)
    return json_response(InvoiceResponse.of_record(record))


def early_invoicing_router(installments: Installments) -> APIRouter:
    """The route that starts early invoicing, which reads installments through `installments`."""
    router = secured_router(prefix="/billing/{tenantLocator}", tags=["invoicing"])

    @router.post("/invoices/earlyInvoicing", operation_id="initiateEarlyInvoicing",
                 response_model=EarlyInvoicingResponse)
    def initiate_early_invoicing(request: Request, tenantLocator: Tenant,
                                 body: EarlyInvoicingRequest, principal: InvoiceWriter) -> Response:
        """Invoice named installments now, whatever their generate time."""
        runtime = runtime_of(request)
        with runtime.db.begin() as conn:
            job, candidates = service.start_early_invoicing(
                conn, runtime.queue, installments, tenant=str(tenantLocator),
                created_by=principal.user_id, request=service.EarlyInvoicing(
                    tuple(body.installmentLocators), body.accountLocator,
                    body.invoiceThroughTime, body.invoiceDueTime, body.timezone,
                    body.ignoreHolds))
        return json_response(EarlyInvoicingResponse(jobLocator=job,
                                                    candidateInstallmentsCount=candidates))

    return router
