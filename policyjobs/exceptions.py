"""The service's exceptions; `policyjobs.api.problems` maps each to one HTTP status.

    PolicyjobsError
     ├── InvalidInput        400, with the field errors
     ├── Unauthenticated     401
     ├── Forbidden           403
     ├── NotFound            404
     └── Conflict            409
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
    """Root of the service's exceptions: `detail` says what went wrong and `errors`, when
    fields are to blame, where."""

    status = 500

    def __init__(self, detail: str, errors: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class InvalidInput(PolicyjobsError):
    """The request is malformed; `errors` says where."""

    status = 400


class Unauthenticated(PolicyjobsError):
    """No token, or one that is unknown, expired or revoked."""

    status = 401


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
