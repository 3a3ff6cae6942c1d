"""A request runs once more after a restart of the store broke its connection, when that is
safe; while the store cannot serve, it is answered 503 with `Retry-After`, never a 500.

A restart of PostgreSQL breaks every pooled connection at once. The first request to use
one fails; SQLAlchemy then replaces the whole pool, so the same request, run again, finds
a fresh connection. It runs again only if nothing of it can have been committed: no
commit was begun before the failure (a failure during COMMIT leaves its outcome unknown),
and no byte of the answer was sent.
"""

from __future__ import annotations

from contextvars import ContextVar

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policyjobs.api.outages import driver_reason, lost_connection, store_trouble
from policyjobs.api.problems import problem_for
from policyjobs.exceptions import StoreUnavailable

log = structlog.get_logger("policyjobs.api")


class _Attempt:
    """One run of a request: whether it began a commit."""

    __slots__ = ("committed",)

    def __init__(self) -> None:
        self.committed = False


# The thread pool runs each sync route and dependency in a copy of the request's context,
# so they all see the same attempt.
_attempt: ContextVar[_Attempt | None] = ContextVar("policyjobs_request_attempt", default=None)


def watch_commits(db: sa.Engine) -> None:
    """Mark the current request's attempt whenever one of its transactions on `db` begins
    to commit."""
    if not event.contains(db, "commit", _committing):
        event.listen(db, "commit", _committing)


def _committing(_conn: sa.Connection) -> None:
    attempt = _attempt.get()
    if attempt is not None:
        attempt.committed = True


class Replay:
    """ASGI middleware: retry a request once after a lost connection when nothing of it was
    committed; answer `503` with `Retry-After` while the store cannot serve."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request, and once more if its connection was lost before any commit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        started = False

        async def recorded() -> Message:
            message = await receive()
            received.append(message)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        first = _Attempt()
        try:
            try:
                await self._run(first, scope, recorded, tracked)
            except Exception as exc:
                lost = store_trouble(exc)
                if started or first.committed or lost is None or not lost_connection(lost):
                    raise
                log.warning("store connection lost; the request runs again on a fresh one",
                            method=scope["method"], path=scope["path"],
                            error=driver_reason(lost))
                await self._run(_Attempt(), scope, _replay(received, receive), tracked)
        except Exception as exc:
            trouble = store_trouble(exc)
            if started or trouble is None:
                raise
            log.error("the store cannot serve the request", method=scope["method"],
                      path=scope["path"], error=driver_reason(trouble))
            response = problem_for(StoreUnavailable(
                "the database is unavailable; try again later"))
            await response(scope, receive, send)

    async def _run(self, attempt: _Attempt, scope: Scope, receive: Receive,
                   send: Send) -> None:
        """Run the app once, as `attempt`."""
        token = _attempt.set(attempt)
        try:
            await self.app(scope, receive, send)
        finally:
            _attempt.reset(token)


def _replay(received: list[Message], receive: Receive) -> Receive:
    """`receive` for a second run: the messages the first one read, then the live ones."""
    pending = list(received)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
