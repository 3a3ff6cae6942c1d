"""Where a read request's time goes in the app: the layers of a list route, one at a time.

`python -m bench.routes [--requests N] [--rounds R] [--in-flight C]` fills a durable
PostgreSQL with 1,000 documents jobs as `bench/run api` does, builds the app in this
process, and calls it straight through ASGI on uvloop (no sockets, no uvicorn), C requests in
flight, N requests a layer in each of R interleaved rounds. Besides `GET /health/live`
and the real documents list and fetch routes, it adds probe routes to the app that stop
at each layer of the list route:

1. a bare `async` route, behind the app's middleware;
2. the documents guard (the token, its permission and the path's tenant) and the path;
3. the page's query parameters;
4. the list query of one reference (20 jobs) on the app's reads, not serialized.

Each figure is this process's CPU time per request (user and system, every thread), the
median of the rounds; PostgreSQL's time is not in it. A diagnostic for bench/README.md,
not part of `bench/run api`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import Message

from bench.api import PER_REFERENCE, SMALL, fill, prepare
from bench.common import log_dir, machine, remove_log_dir, say
from policyjobs.api.application import create_app
from policyjobs.api.state import reads_of
from policyjobs.app import build_runtime
from policyjobs.documents import queries
from policyjobs.documents.endpoints import Locator, Paged, Reader, Tenant
from policyjobs.logs import configure_logging
from policyjobs.settings import Settings
from policyjobs.testing.postgres import start_postgres

_EMPTY = b"{}"


def _empty() -> Response:
    return Response(_EMPTY, media_type="application/json")


async def bare() -> Response:
    """Layer 1: nothing but the app around the route."""
    return _empty()


async def guarded(tenantLocator: Tenant, locator: Locator, _principal: Reader) -> Response:
    """Layer 2: the guard and the path."""
    return _empty()


async def paged(tenantLocator: Tenant, locator: Locator, _principal: Reader,
                page_: Paged) -> Response:
    """Layer 3: the page's parameters."""
    return _empty()


async def queried(request: Request, tenantLocator: Tenant, locator: Locator,
                  _principal: Reader, page_: Paged) -> Response:
    """Layer 4: the list query on the app's reads, its rows left unserialized."""
    await queries.list_jobs(reads_of(request), tenant=str(tenantLocator),
                            reference_type="transaction", reference_locator=locator,
                            offset=page_.offset, limit=page_.probe)
    return _empty()


PROBES: dict[str, Callable[..., Any]] = {
    "1 bare async route": bare, "2 + guard and path": guarded, "3 + page parameters": paged,
    "4 + the list query": queried,
}


def _probe_path(index: int) -> str:
    return f"/document/{{tenantLocator}}/probe-{index}/{{locator}}"


def with_probes(app: FastAPI) -> None:
    """Put the probe routes first, so none pays for matching past the app's routes."""
    for index, endpoint in enumerate(PROBES.values()):
        app.router.routes.insert(index, APIRoute(_probe_path(index), endpoint,
                                                 methods=["GET"]))


def target(layer: str, tenants: list[str]) -> tuple[str, bytes]:
    """The path and query string of one request of `layer`, for a random reference."""
    reference = random.randrange(SMALL // PER_REFERENCE)
    tenant = tenants[reference % len(tenants)]
    if layer == "/health/live":
        return "/health/live", b""
    if layer in PROBES:
        index = list(PROBES).index(layer)
        path = _probe_path(index).format(tenantLocator=tenant, locator=f"R-{reference}")
        return path, b"count=20"
    base = f"/document/{tenant}/documents/transaction/R-{reference}/jobs/"
    if layer == "list route":
        return base + "list", b"count=20"
    job = reference * PER_REFERENCE + random.randrange(PER_REFERENCE)
    return base + f"J{job:025d}", b""


LAYERS = ["/health/live", *PROBES, "list route", "fetch route"]


def request_maker(app: FastAPI, token: str,
                  tenants: list[str]) -> Callable[[str], Awaitable[None]]:
    """A function that sends one request of a layer through ASGI and checks it got 200."""
    authorization = f"Bearer {token}".encode()

    async def one(layer: str) -> None:
        path, query = target(layer, tenants)
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query, "root_path": "", "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80),
                 "headers": [(b"host", b"bench"), (b"authorization", authorization)]}
        statuses: list[int] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        if statuses != [200]:
            raise RuntimeError(f"{path}: answered {statuses}")

    return one


async def measure(app: FastAPI, token: str, tenants: list[str], args: argparse.Namespace,
                  ) -> dict[str, list[float]]:
    """CPU µs per request of each layer, one figure per round."""
    one = request_maker(app, token, tenants)
    found: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    async with app.router.lifespan_context(app):
        for round_ in range(1, args.rounds + 1):
            for layer in LAYERS:
                slots = asyncio.Semaphore(args.in_flight)

                async def limited(layer: str = layer,
                                  slots: asyncio.Semaphore = slots) -> None:
                    async with slots:
                        await one(layer)

                await asyncio.gather(*(limited() for _ in range(args.requests // 10)))  # warm
                began = time.process_time()
                await asyncio.gather(*(limited() for _ in range(args.requests)))
                found[layer].append((time.process_time() - began) / args.requests * 1e6)
            say(f"round {round_}: " + ", ".join(f"{layer} {found[layer][-1]:.0f} µs"
                                               for layer in LAYERS))
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fill, build the app, measure; the figures."""
    server = start_postgres(durable=True)
    try:
        url = server.create_database("routes")
        home = log_dir() / "home"
        tenants, token = prepare(url, home)
        fill({"host": server.host, "port": server.port, "user": server.user,
              "dbname": "routes"}, tenants, 0, SMALL)
        configure_logging("warning")  # as `bench/run api` serves
        runtime = build_runtime(Settings(database_url=url, home=home))
        try:
            app = create_app(runtime, owns_process=True)  # as `policyjobs serve` makes it
            with_probes(app)
            # uvloop, as `policyjobs serve` runs (uvicorn picks it when installed)
            rounds = uvloop.run(measure(app, token, tenants, args))
        finally:
            runtime.close()
        medians = {layer: round(statistics.median(values)) for layer, values in rounds.items()}
        return {"machine": machine(server), "requests": args.requests, "rounds": args.rounds,
                "in_flight": args.in_flight, "cpu_us_per_request": medians,
                "rounds_cpu_us": {k: [round(v) for v in vs] for k, vs in rounds.items()}}
    finally:
        server.stop()


def print_report(figures: dict[str, Any]) -> None:
    """The layers, their CPU per request and what each added to the one before."""
    medians: dict[str, int] = figures["cpu_us_per_request"]
    print(f"CPU µs per request in-process, median of {figures['rounds']} rounds of "
          f"{figures['requests']:,} requests, {figures['in_flight']} in flight "
          f"(commit {figures['machine']['commit']})")
    chain = [*list(PROBES)[1:], "list route"]  # each adds to the one before it
    for before, layer in zip(["", *LAYERS], LAYERS, strict=False):
        added = f"  (+{medians[layer] - medians[before]:,})" if layer in chain else ""
        print(f"  {layer:26s} {medians[layer]:6,d}{added}")
    print("  (the list route adds 20 items to JSON to layer 4, and matching past the "
          "routes before it)")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.routes [--requests N] [--rounds R] [--in-flight C]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.routes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000,
                        help="requests of each layer a round (2,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--in-flight", type=int, default=8,
                        help="requests in flight at once (8)")
    args = parser.parse_args(argv)
    try:
        figures = run(args)
    finally:
        remove_log_dir()
    print_report(figures)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
