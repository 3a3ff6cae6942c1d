"""The operations endpoints: the audit trail (`GET /admin/audit/list`).

An `admin` token reads every tenant's records and those of no one tenant (the clock,
tokens for any tenant); a token with `jobs.operate` reads only the records of a tenant it
holds, and must name it.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Security
from pydantic import AwareDatetime
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.openapi import secured_router
from policyjobs.api.pagination import Page, list_response, page
from policyjobs.api.state import reads_of
from policyjobs.exceptions import FieldProblem, Forbidden, InvalidInput
from policyjobs.operations import queries
from policyjobs.operations.schemas import AuditRecord, AuditRecordList
from policyjobs.security.audit import ACTIONS
from policyjobs.security.permissions import ADMIN
from policyjobs.security.tokens import Principal
from policyjobs.tenants.models import tenants

Operator = Annotated[Principal, Security(guard("jobs", "operate"))]
Paged = Annotated[Page, Depends(page)]
Action = Literal[ACTIONS]  # type: ignore[valid-type]
_TENANT = sa.select(tenants.c.locator).where(tenants.c.locator == sa.bindparam("locator"))


def operations_router() -> APIRouter:
    """The routes, under `/admin`."""
    router = secured_router(prefix="/admin", tags=["operations"])

    @router.get("/audit/list", operation_id="listAuditRecords", response_model=AuditRecordList)
    async def list_audit_records(
        request: Request, principal: Operator, page_: Paged,
        tenantLocator: Annotated[UUID | None, Query(
            description="Only this tenant's records; required without `admin`.")] = None,
        action: Annotated[Action | None, Query(
            description="Only records of this action.")] = None,
        after: Annotated[AwareDatetime | None, Query(
            description="Only records made at or after this time.")] = None,
        before: Annotated[AwareDatetime | None, Query(
            description="Only records made before this time.")] = None,
    ) -> Response:
        """The audit trail, newest first: every operator action, who made it and when."""
        tenant = str(tenantLocator) if tenantLocator is not None else None
        if ADMIN not in principal.permissions and (
                tenant is None or not principal.holds_tenant(tenant)):
            raise Forbidden("without admin, a token reads the audit records of a tenant it "
                            "holds, named by tenantLocator")
        if after is not None and before is not None and after >= before:
            raise InvalidInput("the time range is empty: after is not before before", [
                FieldProblem("before", "must be later than after")])
        reads = reads_of(request)
        if tenant is not None and await reads.first(_TENANT, {"locator": tenant}) is None:
            raise InvalidInput(f"no tenant {tenant}", [
                FieldProblem("tenantLocator", "names no tenant")])
        rows = await queries.audit_page(reads, tenant=tenant, action=action, after=after,
                                        before=before, offset=page_.offset,
                                        limit=page_.probe)
        return list_response(rows, page_, AuditRecord.of)

    return router
