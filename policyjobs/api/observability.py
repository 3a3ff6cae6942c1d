"""What the service tells its operators about requests: a request id, a log line, and
Prometheus metrics, the HTTP latency histogram by route template among them."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable

import structlog
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Histogram,
    make_asgi_app,
    start_http_server,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policyjobs.api.problems import problem_for
from policyjobs.exceptions import PolicyjobsError

log = structlog.get_logger("policyjobs.http")

REQUEST_SECONDS = Histogram(
    "policyjobs_http_request_duration_seconds", "HTTP requests by route template, and how long "
    "they took.", ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
REQUEST_ID = "x-request-id"
_GIVEN_ID = re.compile(r"^[0-9A-Za-z._-]{1,128}$")


def _route_of(scope: Scope) -> str:
    """The template of the route that answered (`/billing/{tenantLocator}/…`), never the raw
    path, so a label has as many values as the app has routes."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class Observe:
    """ASGI middleware: give each request an id (the caller's `X-Request-ID` if it is sane),
    bind it to every log line of the request, log the request, and time it by route.

    It also answers an error that nothing else handled, with a 500 problem: here the answer
    still carries the request's id, and the error's log line names it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one HTTP request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", ())).get(REQUEST_ID.encode(), b"").decode("latin-1")
        request_id = given if _GIVEN_ID.match(given) else uuid.uuid4().hex
        status = 500
        started = False
        began = time.perf_counter()

        async def sent(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", ()),
                                      (REQUEST_ID.encode(), request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, sent)
            except Exception as exc:
                log.error("unhandled error", method=scope["method"], path=scope["path"],
                          exc_info=exc)
                if started:  # part of an answer is out: the server can only drop it
                    return
                answer = problem_for(PolicyjobsError(
                    "the service failed to answer; the error is in its log"))
                await answer(scope, receive, sent)
            finally:
                seconds = time.perf_counter() - began
                route = _route_of(scope)
                REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(seconds)
                log.info("request", method=scope["method"], route=route, status=status,
                         ms=round(seconds * 1000, 2))


class _Joined(Collector):
    """The process's registry, and collectors of this app's own (such as its queue)."""

    def __init__(self, own: Iterable[Collector]) -> None:
        self._own = list(own)

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        for collector in self._own:
            yield from collector.collect()


class MetricsApp:
    """The `/metrics` ASGI app: every metric of the process, and `collectors`. Routed at its
    path, not mounted: a mount answers `/metrics` with a redirect to `/metrics/`. A class,
    because a route takes a plain function, as prometheus_client's app is, for a
    request-to-response endpoint rather than an ASGI app."""

    def __init__(self, *collectors: Collector) -> None:
        self._app = make_asgi_app(registry=_Joined(collectors))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one scrape."""
        await self._app(scope, receive, send)


def serve_metrics(host: str, port: int, *collectors: Collector) -> None:
    """Serve every metric of the process, and `collectors`, on `host:port`, from a thread:
    for a worker process, which serves no API."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Joined(collectors))
    start_http_server(port, addr=host, registry=registry)
