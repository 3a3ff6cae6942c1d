"""A small domain that exercises the shared API machinery: intake, guards, pages, problems."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, Path, Request, Security
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.conventions import Schema, Timestamp, json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.pagination import Page, list_response, page
from policyjobs.api.state import reads_of
from policyjobs.domain import Domain, EventType, Intake, JobRef
from policyjobs.engine import JobContext, JobKind, NewJob, public_status
from policyjobs.engine.view import list_reference_jobs, processing_errors, reference_job
from policyjobs.security.tokens import Principal

KIND = "test.ping"
Locator = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]


class PingEvent(BaseModel):
    """An event that makes one ping job, now or at `runAt`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["test.ping"]
    eventId: str | None = None
    locator: Locator
    message: str = "pong"
    fail: bool = False
    runAt: AwareDatetime | None = None


def accept_ping(intake: Intake, event: PingEvent) -> list[JobRef]:
    """Enqueue the ping's job in the intake transaction."""
    job = NewJob(KIND, intake.tenant, {"message": event.message, "fail": event.fail},
                 reference_type="ping", reference_locator=event.locator, run_at=event.runAt,
                 created_by=intake.created_by)
    return [JobRef("ping", loc) for loc in intake.queue.enqueue(intake.conn, [job])]


def run_ping(context: JobContext) -> dict[str, Any]:
    """Echo the message, or fail as asked."""
    if context.job.payload.get("fail"):
        raise RuntimeError("asked to fail")
    return {"echo": context.job.payload["message"]}


class PingJob(Schema):
    """A ping job as the API shows it."""

    locator: str
    referenceLocator: str
    status: str
    createdAt: Timestamp
    createdBy: str
    completedAt: Timestamp | None
    processingErrors: str | None = None


def _view(row: Any) -> PingJob:
    view = PingJob(locator=row.locator, referenceLocator=row.reference_locator,
                   status=public_status(row.status), createdAt=row.created_at,
                   createdBy=row.created_by, completedAt=row.finished_at)
    if errors := processing_errors(row.errors):
        view.processingErrors = errors
    return view


router = secured_router(prefix="/test/{tenantLocator}/pings/{locator}")
Reader = Annotated[Principal, Security(guard("jobs", "read"))]
Lister = Annotated[Principal, Security(guard("jobs", "read", "list"))]
Tenant = Annotated[UUID, Path()]


@router.get("/jobs/list")
async def list_pings(request: Request, tenantLocator: Tenant, locator: str, _p: Lister,
                     page_: Annotated[Page, Depends(page)]) -> Response:
    """The ping jobs of one locator."""
    rows = await list_reference_jobs(reads_of(request), tenant=str(tenantLocator),
                                     reference_type="ping", reference_locator=locator,
                                     kinds=[KIND], offset=page_.offset, limit=page_.probe)
    return list_response(rows, page_, _view)


@router.get("/jobs/{jobLocator}")
async def fetch_ping(request: Request, tenantLocator: Tenant, locator: str, jobLocator: str,
                     _p: Reader) -> Response:
    """One ping job."""
    row = await reference_job(reads_of(request), tenant=str(tenantLocator),
                              reference_type="ping", reference_locator=locator, kinds=[KIND],
                              locator=jobLocator)
    return json_response(_view(row))


@router.get("/crash")
def crash(tenantLocator: Tenant, locator: str, _p: Reader) -> Response:
    """Fails unexpectedly, to show what the service answers then."""
    raise RuntimeError(f"boom at {datetime.now()}")


domain = Domain(
    name="test.ping",
    kinds=[JobKind(KIND, run_ping, max_attempts=1)],
    events=[EventType("test.ping", PingEvent, accept_ping)],
    routers=[router],
    permissions=["jobs.read", "jobs.list"],
)
