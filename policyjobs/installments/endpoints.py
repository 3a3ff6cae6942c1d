"""The installments endpoints: jobs by quote and transaction, installments and lattices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request, Security
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.conventions import json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.pagination import Page, list_response, page
from policyjobs.api.state import reads_of
from policyjobs.installments import queries
from policyjobs.installments.schemas import (
    Installment,
    InstallmentJobData,
    InstallmentJobDataList,
    InstallmentLattice,
    InstallmentList,
)
from policyjobs.security.tokens import Principal

jobs_router = secured_router(prefix="/billing/{tenantLocator}/jobs/installments",
                             tags=["installments"])
billing_router = secured_router(prefix="/billing/{tenantLocator}", tags=["installments"])
JobsReader = Annotated[Principal, Security(guard("jobs", "read", "list"))]
InstallmentReader = Annotated[Principal, Security(guard("installments", "read"))]
InstallmentLister = Annotated[Principal, Security(guard("installments", "read", "list"))]
LatticeReader = Annotated[Principal, Security(guard("installment-lattices", "read"))]
Tenant = Annotated[UUID, Path(description="The tenant's UUID.")]
Locator = Annotated[str, Path(min_length=1, max_length=64)]
Paged = Annotated[Page, Depends(page)]


def _jobs(reference_type: str) -> Callable[..., Awaitable[Response]]:
    async def fetch_installments_jobs(request: Request, tenantLocator: Tenant, locator: Locator,
                                      _principal: JobsReader, page_: Paged) -> Response:
        reads = reads_of(request)
        records = await queries.job_records(reads, tenant=str(tenantLocator),
                                            reference_type=reference_type,
                                            reference_locator=locator, offset=page_.offset,
                                            limit=page_.probe)
        return list_response(records, page_, InstallmentJobData.of)

    return fetch_installments_jobs


for path, title in (("quotes", "Quotes"), ("transactions", "Transactions")):
    jobs_router.add_api_route(
        f"/{path}/{{locator}}/list", _jobs(path[:-1]), methods=["GET"],
        operation_id=f"fetchInstallmentsJobDataFor{title}",
        response_model=InstallmentJobDataList,
        summary=f"Fetch the installments jobs of a {path[:-1]}")


@billing_router.get("/installments/{installmentLocator}", operation_id="fetchInstallmentByLocator",
                    response_model=Installment)
async def fetch_installment(request: Request, tenantLocator: Tenant, installmentLocator: Locator,
                            _principal: InstallmentReader) -> Response:
    """One installment with its items."""
    reads = reads_of(request)
    record = await queries.installment(reads, tenant=str(tenantLocator), locator=installmentLocator)
    return json_response(Installment.of(record))


@billing_router.get("/installments/quotes/{quoteLocator}/list",
                    operation_id="fetchInstallmentsForQuote", response_model=InstallmentList)
async def fetch_quote_installments(request: Request, tenantLocator: Tenant, quoteLocator: Locator,
                                   _principal: InstallmentLister, page_: Paged) -> Response:
    """The installments of the quote's latest pricing."""
    reads = reads_of(request)
    records = await queries.installments_of(reads, tenant=str(tenantLocator), quote=quoteLocator,
                                            offset=page_.offset, limit=page_.probe)
    return list_response(records, page_, Installment.of)


@billing_router.get("/installments/transactions/{transactionLocator}/list",
                    operation_id="fetchInstallmentsForPolicyTransaction",
                    response_model=InstallmentList)
async def fetch_transaction_installments(request: Request, tenantLocator: Tenant,
                                         transactionLocator: Locator, _principal: InstallmentLister,
                                         page_: Paged) -> Response:
    """The installments a transaction made: its billing, or the reversals of its unbill."""
    reads = reads_of(request)
    records = await queries.installments_of(reads, tenant=str(tenantLocator),
                                            transaction=transactionLocator, offset=page_.offset,
                                            limit=page_.probe)
    return list_response(records, page_, Installment.of)


@billing_router.get("/installmentLattices/{installmentLatticeLocator}",
                    operation_id="fetchInstallmentLatticeByLocator",
                    response_model=InstallmentLattice)
async def fetch_lattice(request: Request, tenantLocator: Tenant, installmentLatticeLocator: Locator,
                        _principal: LatticeReader) -> Response:
    """One installment lattice with its frames."""
    reads = reads_of(request)
    row = await queries.lattice(reads, tenant=str(tenantLocator), locator=installmentLatticeLocator)
    return json_response(InstallmentLattice.of(row))


@billing_router.get("/installmentLattices/quotes/{quoteLocator}",
                    operation_id="fetchLatestInstallmentLatticeByQuoteLocator",
                    response_model=InstallmentLattice)
async def fetch_quote_lattice(request: Request, tenantLocator: Tenant, quoteLocator: Locator,
                              _principal: LatticeReader) -> Response:
    """The lattice of the quote's latest pricing."""
    reads = reads_of(request)
    row = await queries.latest_quote_lattice(reads, tenant=str(tenantLocator), quote=quoteLocator)
    return json_response(InstallmentLattice.of(row))
