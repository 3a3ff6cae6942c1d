"""RFC 9457 problem details for every error the service answers: `problem_for` is the one
place where an exception of the service becomes an answer, wherever it is caught (a route,
or a middleware that answers before or around the app)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from policyjobs.exceptions import FieldProblem, InvalidInput, PolicyjobsError, field_path

PROBLEM_JSON = "application/problem+json"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
           500: "Internal Server Error", 503: "Service Unavailable"}


def problem(status: int, detail: str, errors: Sequence[FieldProblem] = (),
            headers: dict[str, str] | None = None, **extensions: str) -> Response:
    """A problem+json response, with any extension members given."""
    body: dict[str, Any] = {
        **extensions, "type": "about:blank", "title": _TITLES.get(status, "Error"),
        "status": status, "detail": detail,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON,
                    headers=headers)


def problem_for(exc: PolicyjobsError) -> Response:
    """The answer to `exc`: its status, detail, field errors, headers and extensions."""
    return problem(exc.status, exc.detail, exc.errors, exc.headers or None, **exc.extensions)


def validation_problems(errors: Sequence[Any], body: object = None) -> list[FieldProblem]:
    """Field problems from pydantic's or FastAPI's error list; `body` is what FastAPI read,
    the text of a body that is not JSON."""
    found = []
    for error in errors:
        match error.get("type"), tuple(error.get("loc", ())):
            case "json_invalid", ("body", int(offset)):
                found.append(_not_json(error, body, offset))
                continue
        loc = [p for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
        found.append(FieldProblem(field_path(loc), str(error.get("msg", "is invalid"))))
    return found


def _not_json(error: Any, body: object, offset: int) -> FieldProblem:
    """A body FastAPI could not parse, whose error it places at `("body", offset)`: the
    parser's message with its line and column, such as "Expecting ',' delimiter: line 3
    column 5 (char 40)"."""
    reason = str(error.get("ctx", {}).get("error", "is not JSON"))
    if isinstance(body, str):
        reason = str(json.JSONDecodeError(reason, body, offset))
    return FieldProblem("body", reason)


def install(app: FastAPI) -> None:
    """Route every error through `problem`; what none of these handles is answered by
    `observability.Observe`, within the request's log context."""

    @app.exception_handler(PolicyjobsError)
    async def service_error(_request: Request, exc: PolicyjobsError) -> Response:
        return problem_for(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        problems = validation_problems(exc.errors(), exc.body)
        detail = "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)
        return problem_for(InvalidInput(detail or "the request is invalid", problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route for {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))
