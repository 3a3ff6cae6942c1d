"""What a request may carry, checked before the app sees it: a body of at most 1 MiB, and no
NUL character in its path or query string, which no stored text can hold (PostgreSQL
refuses one in any string, so it could only fail deep in a query)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policyjobs.api.problems import problem_for
from policyjobs.exceptions import BodyTooLarge, InvalidInput

MAX_BODY = 1024 * 1024


class RequestLimits:
    """ASGI middleware: 400 for a NUL in the path or query string, or a body over
    `MAX_BODY`, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the path and query, the declared length, then count what streams in."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await problem_for(InvalidInput(
                "the request's path or query holds a NUL character (%00)"))(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self._refuse(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise self._too_large()
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await problem_for(self._too_large())(scope, receive, send)

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(f"the request body is over {self.limit} bytes")
