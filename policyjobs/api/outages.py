"""What a request meets when the store goes away: one more try on a fresh connection when
that is safe, else `503` with `Retry-After`, never a 500.

A restart of PostgreSQL breaks every pooled connection at once. The first request to use
one fails; SQLAlchemy then replaces the whole pool, so the same request, run again, finds
a fresh connection. It runs again only if nothing of it can have been committed: no
commit was begun before the failure (a failure during COMMIT leaves its outcome unknown),
and no byte of the answer was sent. While the database is down, every request that needs
it is answered `503` with `Retry-After`, as problem+json.
"""

from __future__ import annotations

from contextvars import ContextVar

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policyjobs.api.problems import problem
from policyjobs.store.readers import StoreUnavailable

log = structlog.get_logger("policyjobs.api")

RETRY_AFTER_SECONDS = 2
# What the store raises when it cannot serve: lost or refused connections, an exhausted
# pool, a lock or statement timeout, a deadlock victim. Each is worth trying again later.
# The reads on asyncpg raise `StoreUnavailable`, having tried a lost connection again.
STORE_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError,
                     StoreUnavailable)


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


def store_trouble(exc: BaseException) -> BaseException | None:
    """The store's failure behind `exc`: `exc` itself, or what it was raised from or while
    handling (closing a connection the server dropped raises an error of its own)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None or isinstance(seen, STORE_UNAVAILABLE):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def lost_connection(exc: BaseException) -> bool:
    """The store dropped a connection mid-request; SQLAlchemy has replaced its pool."""
    return isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated


class StoreOutages:
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
            response = problem(503, "the database is unavailable; try again later",
                               headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
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


def driver_reason(exc: BaseException) -> str:
    """The driver's first line: what went wrong, without the statement and its values."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
