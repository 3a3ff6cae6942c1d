"""Bearer-token authentication and `group.action` authorization for routes.

A route declares what it needs once, with a parameter such as
`principal: Annotated[Principal, Security(guard("jobs", "read", "list"))]`;
the OpenAPI document shows it as `x-securityGroup` and `x-securityPermission`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from policyjobs.api.state import runtime_of
from policyjobs.exceptions import Forbidden, Unauthenticated
from policyjobs.runtime import Runtime
from policyjobs.security.permissions import ADMIN
from policyjobs.security.tokens import Principal, verify_token
from policyjobs.store.database import reader
from policyjobs.tenants.service import tenant_locator

_bearer = HTTPBearer(auto_error=False, description="A personal access token.")


async def authenticate(request: Request,
                       credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The principal of the request's bearer token, or 401.

    A token verified lately is taken from the runtime's cache on the event loop; only
    a miss reads the store, in the thread pool.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token is required")
    return await principal_of(request, credentials.credentials)


async def principal_of(request: Request, text: str) -> Principal:
    """The principal of token `text`, or `Unauthenticated`: from the runtime's cache of
    tokens verified lately, on the event loop, or from the store, in the thread pool.

    The requests that find a token missing from the cache at once (each time its entry
    runs out, under load, all those in flight) wait for one verification, not one each.
    """
    runtime = runtime_of(request)
    principal = runtime.tokens.get(text, runtime.clock.now())
    if principal is not None:
        return principal
    verifying: dict[str, asyncio.Future[Principal]] = request.app.state.verifying
    found = verifying.get(text)
    if found is None:
        found = verifying[text] = asyncio.ensure_future(_verified(runtime, text))
        found.add_done_callback(lambda _: verifying.pop(text, None))
    return await asyncio.shield(found)  # a waiter that goes away leaves it to the others


async def _verified(runtime: Runtime, text: str) -> Principal:
    principal = await run_in_threadpool(_verify, runtime, text)
    runtime.tokens.put(text, principal)
    return principal


def _verify(runtime: Runtime, text: str) -> Principal:
    with reader(runtime.db).connect() as conn:
        return verify_token(conn, text, runtime.clock.now())


class Guard:
    """A dependency that demands `group.action` for each action, and the path's tenant."""

    def __init__(self, group: str, actions: tuple[str, ...]) -> None:
        self.security_group = group
        self.security_permissions = list(actions)

    async def __call__(
        self, request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        """Authenticate, check the permissions, then the tenant named by `tenantLocator`,
        if any: one dependency, not one for the token and one for the checks, since every
        level of dependencies is one more round of the framework's solving per request."""
        principal = await authenticate(request, credentials)
        needed = [f"{self.security_group}.{a}" for a in self.security_permissions
                  if not principal.may(self.security_group, a)]
        if not self.security_permissions and ADMIN not in principal.permissions:
            needed = [ADMIN]
        if needed:
            raise Forbidden(f"the token lacks the permission{'s' * (len(needed) > 1)} "
                            f"{', '.join(needed)}")
        raw = request.path_params.get("tenantLocator")
        if raw is not None and not principal.holds_tenant(tenant_locator(raw)):
            raise Forbidden(f"the token does not hold tenant {raw}")
        return principal


def guard(group: str, *actions: str) -> Callable[..., Awaitable[Principal]]:
    """The dependency for a route in `group` that needs each of `actions` (none: `admin`)."""
    return Guard(group, actions)
