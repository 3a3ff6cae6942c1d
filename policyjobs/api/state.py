"""Where routes find the process's runtime, and the reads a read route awaits."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request

from policyjobs.runtime import Runtime
from policyjobs.store.readers import Reads


def runtime_of(request: Request) -> Runtime:
    """The runtime the app was built with."""
    return cast(Runtime, request.app.state.runtime)


def reads_of(request: Request) -> Reads:
    """The app's reads of the store, for a route that only reads: an `async` route awaits
    them on the event loop (`store.readers`)."""
    return cast(Reads, request.app.state.reads)
