"""Where routes find the process's runtime, and the connection a read route reads with."""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from starlette.requests import Request

from policyjobs.runtime import Runtime
from policyjobs.store.database import reader


def runtime_of(request: Request) -> Runtime:
    """The runtime the app was built with."""
    return cast(Runtime, request.app.state.runtime)


def reading(request: Request) -> sa.Connection:
    """A connection of the store's reader, for a route that only reads: `with reading(request)
    as conn:` in the route's own body.

    A read route is a plain function, which the framework runs in its thread pool; taking
    the connection there, not in a dependency, saves each request a trip between the event
    loop and a thread and the framework's exit stack around it.
    """
    return reader(runtime_of(request).db).connect()
