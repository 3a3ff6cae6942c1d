"""The operations endpoints, under `/admin`: bulk retries and cancellations of jobs chosen by
a filter, pauses of a kind, and the audit trail.

An `admin` token acts on every tenant and on all at once; a token with `jobs.operate` acts
only on a tenant it holds, and must name it: its bulk actions take that tenant's jobs, its
pauses hold a kind for that tenant, and it reads that tenant's audit records.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request, Security
from pydantic import AwareDatetime
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.conventions import json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.pagination import Page, list_response, page
from policyjobs.api.state import reads_of, runtime_of
from policyjobs.engine.pauses import Pause
from policyjobs.exceptions import FieldProblem, Forbidden, InvalidInput, NotFound
from policyjobs.operations import queries, service
from policyjobs.operations.models import CANCEL, RETRY
from policyjobs.operations.schemas import (
    AuditRecord,
    AuditRecordList,
    BulkAction,
    JobsActedOn,
    JobsFilter,
    JobsMatched,
    PauseCreate,
    PauseList,
    PauseView,
)
from policyjobs.runtime import Runtime
from policyjobs.security.audit import ACTIONS, Actor
from policyjobs.security.permissions import ADMIN
from policyjobs.security.tokens import Principal
from policyjobs.store.database import reader
from policyjobs.tenants.models import tenants

Operator = Annotated[Principal, Security(guard("jobs", "operate"))]
Paged = Annotated[Page, Depends(page)]
# A job's or a pause's locator (a ULID): text that could not be one never reaches the store.
Locator = Annotated[str, Path(min_length=1, max_length=26, pattern=r"^[0-9A-Za-z]+$")]
Action = Literal[ACTIONS]  # type: ignore[valid-type]
_TENANT = sa.select(tenants.c.locator).where(tenants.c.locator == sa.bindparam("locator"))


def _answers_for(principal: Principal, tenant: str | None) -> bool:
    """Whether the token acts on `tenant` (None: every tenant, or none): `admin`, or one it
    holds."""
    return ADMIN in principal.permissions or (
        tenant is not None and principal.holds_tenant(tenant))


def _may_act(principal: Principal, tenant: str | None, what: str) -> None:
    """`Forbidden` unless the token is `admin`, or holds `tenant`."""
    if not _answers_for(principal, tenant):
        raise Forbidden(f"without admin, a token {what} a tenant it holds, named by "
                        "tenantLocator")


def _exists(conn: sa.Connection, tenant: str) -> bool:
    return conn.execute(_TENANT, {"locator": tenant}).first() is not None


def _no_tenant(tenant: str) -> FieldProblem:
    return FieldProblem("tenantLocator", f"names no tenant: {tenant}")


def _unknown_kind(runtime: Runtime, kind: str) -> FieldProblem:
    return FieldProblem("kind", f"names no job kind: {kind}; known: "
                                f"{', '.join(sorted(runtime.queue.registry.kinds))}")


def _checked(runtime: Runtime, conn: sa.Connection, body: JobsFilter) -> None:
    """`InvalidInput` naming each field of a filter that is not one."""
    problems = []
    if body.kind is not None and body.kind not in runtime.queue.registry.kinds:
        problems.append(_unknown_kind(runtime, body.kind))
    if body.createdAfter and body.createdBefore and body.createdAfter >= body.createdBefore:
        problems.append(FieldProblem("createdBefore", "must be later than createdAfter"))
    chosen = body.chosen()
    if chosen.tenant is not None and not _exists(conn, chosen.tenant):
        problems.append(_no_tenant(chosen.tenant))
    if chosen.everything and not body.all:
        problems.append(FieldProblem("all", "the filter names nothing, so it matches every "
                                            "job of every tenant; say \"all\": true to mean it"))
    if problems:
        raise InvalidInput("the filter is not one to act on", problems)


def operations_router() -> APIRouter:
    """The routes, under `/admin`."""
    router = secured_router(prefix="/admin", tags=["operations"])

    def act(request: Request, principal: Principal, body: JobsFilter, action: str) -> Response:
        runtime = runtime_of(request)
        chosen = body.chosen()
        _may_act(principal, chosen.tenant, f"{action}s the jobs of")
        if body.dryRun:  # only reads: on SQLite, without waiting for the write lock
            with reader(runtime.db).connect() as conn:
                _checked(runtime, conn, body)
                return json_response(JobsMatched(matched=service.matched(conn, chosen)))
        with runtime.db.begin() as conn:
            _checked(runtime, conn, body)
            matched, job = service.act_on_jobs(conn, runtime.queue, action=action,
                                               chosen=chosen, actor=Actor.of(principal))
        return json_response(JobsActedOn(matched=matched, jobLocator=job), status_code=202)

    @router.post("/jobs/retry", operation_id="retryJobs", status_code=202,
                 response_model=JobsActedOn,
                 responses={200: {"model": JobsMatched, "description": "A dry run's count."}})
    def retry_jobs(request: Request, principal: Operator, body: JobsFilter) -> Response:
        """Retry the failed (or timed-out) jobs the filter matches, each as its kind says,
        in a job of its own (`dryRun`: only count them)."""
        return act(request, principal, body, RETRY)

    @router.post("/jobs/cancel", operation_id="cancelJobs", status_code=202,
                 response_model=JobsActedOn,
                 responses={200: {"model": JobsMatched, "description": "A dry run's count."}})
    def cancel_jobs(request: Request, principal: Operator, body: JobsFilter) -> Response:
        """Cancel the queued, blocked or waiting jobs the filter matches, each as its kind
        says, in a job of its own (`dryRun`: only count them)."""
        return act(request, principal, body, CANCEL)

    @router.get("/jobs/bulk/{jobLocator}", operation_id="getBulkAction",
                response_model=BulkAction)
    async def get_bulk_action(request: Request, principal: Operator,
                              jobLocator: Locator) -> Response:
        """A bulk retry or cancel, as far as it got."""
        row = await queries.bulk_action(reads_of(request), jobLocator)
        if row is None or not _answers_for(principal, row.tenant):
            raise NotFound(f"no bulk action {jobLocator}")
        return json_response(BulkAction.of(row))

    @router.post("/pauses", operation_id="createPause", status_code=201,
                 response_model=PauseView,
                 responses={200: {"model": PauseView,
                                  "description": "The kind was already paused so."}})
    def create_pause(request: Request, principal: Operator, body: PauseCreate) -> Response:
        """Pause a kind, for a tenant or for all: its due jobs are not claimed until it is
        resumed (jobs running now finish)."""
        runtime = runtime_of(request)
        tenant = str(body.tenantLocator) if body.tenantLocator else None
        _may_act(principal, tenant, "pauses the jobs of")
        with runtime.db.begin() as conn:
            problems = []
            if body.kind not in runtime.queue.registry.kinds:
                problems.append(_unknown_kind(runtime, body.kind))
            if tenant is not None and not _exists(conn, tenant):
                problems.append(_no_tenant(tenant))
            if problems:
                raise InvalidInput("that is not a kind to pause", problems)
            made, new = service.pause(conn, runtime.queue, kind=body.kind, tenant=tenant,
                                      actor=Actor.of(principal))
        return json_response(PauseView.of(made), status_code=201 if new else 200)

    @router.get("/pauses/list", operation_id="listPauses", response_model=PauseList)
    def list_pauses(request: Request, principal: Operator, page_: Paged) -> Response:
        """The pauses in force, by kind: all of them for `admin`, else those that hold the
        jobs of a tenant the token holds (its own, and those of every tenant)."""
        found = [p for p in runtime_of(request).queue.pauses() if _sees(principal, p)]
        return list_response(found[page_.offset:page_.offset + page_.probe], page_,
                             PauseView.of)

    @router.delete("/pauses/{locator}", operation_id="deletePause", status_code=204,
                   response_class=Response)
    def delete_pause(request: Request, principal: Operator, locator: Locator) -> Response:
        """Resume a paused kind: its due jobs are claimed again."""
        runtime = runtime_of(request)
        found = service.find_pause(runtime.queue, locator)
        if not _sees(principal, found):
            raise NotFound(f"no pause {locator}")
        _may_act(principal, None if found.every_tenant else found.tenant, "resumes the jobs of")
        with runtime.db.begin() as conn:  # NotFound if another resumed it meanwhile
            service.resume(conn, runtime.queue, locator=locator, actor=Actor.of(principal))
        return Response(status_code=204)

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
        _may_act(principal, tenant, "reads the audit records of")
        if after is not None and before is not None and after >= before:
            raise InvalidInput("the time range is empty: after is not before before", [
                FieldProblem("before", "must be later than after")])
        reads = reads_of(request)
        if tenant is not None and await reads.first(_TENANT, {"locator": tenant}) is None:
            raise InvalidInput(f"no tenant {tenant}", [_no_tenant(tenant)])
        rows = await queries.audit_page(reads, tenant=tenant, action=action, after=after,
                                        before=before, offset=page_.offset,
                                        limit=page_.probe)
        return list_response(rows, page_, AuditRecord.of)

    return router


def _sees(principal: Principal, pause: Pause) -> bool:
    """Whether the token sees `pause`: with `admin`, or as one that holds its jobs."""
    return pause.every_tenant or _answers_for(principal, pause.tenant)
