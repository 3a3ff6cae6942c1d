"""`/health` and `/health/live`, the test clock and the idle wait."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import Query, Request, Security
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.conventions import Schema, Timestamp, json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.outages import (
    driver_reason,
    lost_connection,
    store_trouble,
)
from policyjobs.api.problems import problem_for
from policyjobs.api.state import runtime_of
from policyjobs.engine import ClockTooFar
from policyjobs.engine.queue import idle_pauses
from policyjobs.exceptions import FieldProblem, InvalidInput, Unavailable
from policyjobs.security.audit import Actor
from policyjobs.security.tokens import Principal

Admin = Annotated[Principal, Security(guard("admin"))]


class Health(Schema):
    """Whether the service and its store answer."""

    status: str
    database: str


class Liveness(Schema):
    """Whether the process answers."""

    status: str


class ClockReading(Schema):
    """The service's notion of now."""

    now: Timestamp


class ClockChange(Schema):
    """Where to move the test clock: an RFC 3339 time with an offset."""

    now: AwareDatetime


class Idleness(Schema):
    """Whether the work drained before the timeout."""

    idle: bool


health_router = secured_router(tags=["operations"])
admin_router = secured_router(prefix="/admin", tags=["operations"])
clock_router = secured_router(prefix="/admin", tags=["operations"])


@health_router.get("/health", response_model=Health)
def health(request: Request) -> Response:
    """200 while the database answers; 503 naming it (`"database": "down"`) when it does
    not."""
    trouble = _database_trouble(runtime_of(request).db)
    if trouble is not None:
        return problem_for(Unavailable(f"the database does not answer: {trouble}",
                                       database="down"))
    return json_response(Health(status="ok", database="ok"))


def _database_trouble(db: sa.Engine) -> str | None:
    """Why the database does not answer, or None. A connection a restart broke is replaced,
    with the rest of the pool, and the question asked again."""
    for last in (False, True):
        try:
            _select_one(db)
        except Exception as exc:
            trouble = store_trouble(exc)
            if trouble is None:
                raise
            if last or not lost_connection(trouble):
                return driver_reason(trouble)
        else:
            return None
    return None


def _select_one(db: sa.Engine) -> None:
    with db.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


@health_router.get("/health/live", response_model=Liveness)
async def live() -> Response:
    """200 while the process answers, without touching the store: a liveness probe, where
    `/health` is a readiness one."""
    return json_response(Liveness(status="ok"))


@admin_router.get("/idle", response_model=Idleness)
async def idle(
    request: Request, _principal: Admin,
    timeout: Annotated[float, Query(ge=0, le=600, description="Seconds to wait.")] = 30,
) -> Response:
    """Wait until no job executes and none is due by the clock.

    Each look at the queue takes a thread of the pool for one query; the waits between are
    the event loop's, so waits of many minutes hold none of the threads other requests need.
    """
    queue, pauses = runtime_of(request).queue, idle_pauses(timedelta(seconds=timeout))
    while await run_in_threadpool(queue.busy):
        pause = next(pauses, None)
        if pause is None:
            return json_response(Idleness(idle=False))
        await asyncio.sleep(pause)
    return json_response(Idleness(idle=True))


@clock_router.get("/clock", response_model=ClockReading)
def read_clock(request: Request, _principal: Admin) -> Response:
    """The test clock's now."""
    return json_response(ClockReading(now=runtime_of(request).clock.now()))


@clock_router.put("/clock", response_model=ClockReading)
def move_clock(request: Request, change: ClockChange, principal: Admin) -> Response:
    """Move the test clock; every job that became due runs."""
    try:
        now = runtime_of(request).move_clock(change.now, Actor.of(principal))
    except ClockTooFar as exc:
        raise InvalidInput(str(exc), [FieldProblem("now", str(exc))]) from None
    return json_response(ClockReading(now=now))
