"""Where routes find the process's runtime, and the read connection every read route takes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

import sqlalchemy as sa
from fastapi import Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from policyjobs.runtime import Runtime
from policyjobs.store.database import reader


def runtime_of(request: Request) -> Runtime:
    """The runtime the app was built with."""
    return cast(Runtime, request.app.state.runtime)


async def read_connection(request: Request) -> AsyncIterator[sa.Connection]:
    """A connection of the store's reader, for one request that only reads.

    It is taken from the pool in the thread pool, where it may wait for one, and given
    back on the event loop, which never waits: a sync dependency would cost the request
    two more trips between the loop and a thread.
    """
    conn = await run_in_threadpool(reader(runtime_of(request).db).connect)
    try:
        yield conn
    finally:
        conn.close()


ReadConnection = Annotated[sa.Connection, Depends(read_connection)]
