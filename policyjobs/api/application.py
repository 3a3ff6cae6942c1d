"""The FastAPI app over a runtime: the shared routes, its domains' routes, problems, limits and
metrics. It knows no domain by name."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route

from policyjobs.api import problems
from policyjobs.api.admin import admin_router, clock_router, health_router
from policyjobs.api.limits import RequestLimits
from policyjobs.api.observability import MetricsApp, Observe
from policyjobs.api.openapi import build_openapi
from policyjobs.api.replay import Replay, watch_commits
from policyjobs.runtime import Runtime
from policyjobs.store.readers import reads_for

DESCRIPTION = (
    "The Jobs API of policyjobs: documents, installment, invoicing and delinquency jobs, "
    "with the artifacts they produce. Every endpoint but /health, /metrics and this "
    "document takes a bearer token."
)


def create_app(runtime: Runtime, *, run_workers: bool = False, owns_runtime: bool = False,
               owns_process: bool = False) -> FastAPI:
    """The app over `runtime`; with `run_workers`, its lifespan also runs workers, with
    `owns_runtime` it closes the runtime when it stops, and with `owns_process` (the app a
    server process serves, not one embedded in another's) it keeps what start-up made out of
    the collector's sight while it runs."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if run_workers:
            runtime.start_workers()
        if owns_process:
            # What start-up made (modules, the app, its routes and pools) lives as long as
            # the process: out of the collector's sight, a full collection takes a few
            # milliseconds instead of pausing every request for 60 to 100. The collection
            # before walks the whole heap (some 100 ms), once a process.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if owns_process:
                gc.unfreeze()
            await reads.close()
            runtime.stop_workers()
            if owns_runtime:
                runtime.close()

    app = FastAPI(title="policyjobs", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, redoc_url=None)
    app.state.runtime = runtime
    app.state.reads = reads = reads_for(runtime.db)
    app.state.verifying = {}  # tokens being verified, by text (`auth.principal_of`)
    problems.install(app)
    app.include_router(health_router)
    app.include_router(admin_router)
    if runtime.settings.test_clock:
        app.include_router(clock_router)
    for domain in runtime.domains:
        for router in domain.routers:
            app.include_router(router)
        for router in domain.webhooks:
            app.webhooks.include_router(router)
    app.router.routes.append(Route("/metrics", MetricsApp(runtime.queue.collector()),
                                   include_in_schema=False))

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    watch_commits(runtime.db)
    app.add_middleware(Replay)
    app.add_middleware(RequestLimits)
    app.add_middleware(Observe)
    return app
