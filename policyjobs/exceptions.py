"""The service's exceptions, under one root; `policyjobs.api.problems.problem_for` answers each
as problem+json with its status (and headers), and nothing else makes that choice.

    PolicyjobsError                 500: a failure the service did not expect
     ├── InvalidInput               400, with the field errors
     │    ├── BodyTooLarge          400: a body over the limit (api.limits)
     │    └── TenantConfigError     400: a tenant configuration (tenants.config)
     ├── Unauthenticated            401, with WWW-Authenticate
     ├── Forbidden                  403
     ├── NotFound                   404
     ├── Conflict                   409
     ├── Unavailable                503, with Retry-After: the database does not answer
     │    └── StoreUnavailable      503: a read found the store away (store.readers)
     ├── StoreTooNew, MigrationBroke    a store this release cannot migrate (store.migrate)
     ├── EngineError                the engine's (engine.errors): an unknown kind, and what
     │                              handlers raise to fail or postpone a job
     └── RenderError, RenderTimeout a document that could not be rendered (documents)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one input field, named by its path, such as `events[2].trigger`."""

    field: str
    message: str


def field_path(loc: Sequence[int | str]) -> str:
    """`events[2].trigger` from a location such as pydantic's `("events", 2, "trigger")`.

    A key with a character that does not print (a NUL, a lone surrogate, a control
    character) is shown as a JSON string in brackets, `data["a\\u0000b"]`, so that the path
    can be read, and written in an answer at all."""
    path = ""
    for part in loc:
        if isinstance(part, int) or part == "[key]":
            path += f"[{part}]" if isinstance(part, int) else part
        elif not part.isprintable():
            path += f"[{json.dumps(part)}]"
        else:
            path += f".{part}" if path else str(part)
    return path


class PolicyjobsError(Exception):
    """Root of the service's exceptions: `detail` says what went wrong, `errors`, when fields
    are to blame, where, and `extensions` are members its problem+json answer adds."""

    status = 500

    def __init__(self, detail: str, errors: list[FieldProblem] | None = None,
                 **extensions: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extensions = extensions

    @property
    def headers(self) -> dict[str, str]:
        """The headers an answer of this error carries."""
        return {}


class InvalidInput(PolicyjobsError):
    """The request is malformed; `errors` says where."""

    status = 400


class BodyTooLarge(InvalidInput):
    """A request body over the limit, declared or streamed."""


class Unauthenticated(PolicyjobsError):
    """No token, or one that is unknown, expired or revoked."""

    status = 401

    @property
    def headers(self) -> dict[str, str]:
        """The scheme a client should authenticate with."""
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(PolicyjobsError):
    """The token lacks the tenant or the permission."""

    status = 403


class NotFound(PolicyjobsError):
    """Nothing by that locator exists in that tenant under that reference."""

    status = 404


class Conflict(PolicyjobsError):
    """The request conflicts with the current state, such as a retired tenant, or a used
    `eventId` (`errors` names it)."""

    status = 409


RETRY_AFTER_SECONDS = 2  # when a client should try again after a 503


class Unavailable(PolicyjobsError):
    """The service cannot answer for now: the database does not answer."""

    status = 503

    @property
    def headers(self) -> dict[str, str]:
        """When to try again."""
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class StoreUnavailable(Unavailable):
    """The store cannot serve a read now (down, restarting, out of connections); the
    detail is the driver's reason."""
