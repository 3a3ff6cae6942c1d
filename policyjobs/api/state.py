"""Where routes find the process's runtime, and the read connection every read route takes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, cast

import sqlalchemy as sa
from fastapi import Depends
from starlette.requests import Request

from policyjobs.runtime import Runtime
from policyjobs.store.database import reader


def runtime_of(request: Request) -> Runtime:
    """The runtime the app was built with."""
    return cast(Runtime, request.app.state.runtime)


def read_connection(request: Request) -> Iterator[sa.Connection]:
    """A connection of the store's reader, for one request that only reads."""
    with reader(runtime_of(request).db).connect() as conn:
        yield conn


ReadConnection = Annotated[sa.Connection, Depends(read_connection)]
