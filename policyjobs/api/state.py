"""Where routes find the process's runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.requests import Request

if TYPE_CHECKING:
    from policyjobs.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The runtime the app was built with."""
    return cast("Runtime", request.app.state.runtime)
