"""The OpenAPI document: each operation's security group, and problems (400, not 422)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from policyjobs.api.auth import Guard

_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
        }},
    },
}


class SecuredRoute(APIRoute):
    """A route whose OpenAPI operation names the security its `Guard` demands."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if guard := _guard_of(self.dependant):
            self.openapi_extra = {
                **(self.openapi_extra or {}),
                "x-securityGroup": guard.security_group,
                "x-securityPermission": guard.security_permissions,
            }


def secured_router(**kwargs: Any) -> APIRouter:
    """An `APIRouter` whose routes document their security groups."""
    return APIRouter(route_class=SecuredRoute, **kwargs)


def _guard_of(dependant: Dependant) -> Guard | None:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Guard):
            return dependency.call
        if found := _guard_of(dependency):
            return found
    return None


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, made once and cached on the app."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes)
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM
    for schemas in (document["components"]["schemas"],):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            problem = {"description": "A problem", "content": {
                "application/problem+json": {"schema": problem_ref}}}
            responses.setdefault("400", {**problem, "description": "Malformed input"})
            responses.setdefault("503", {**problem, "description": "The database is "
                                         "unavailable; `Retry-After` says when to try again"})
            if "x-securityGroup" in operation:
                responses.setdefault("401", {**problem, "description": "No valid token"})
                responses.setdefault("403", {**problem, "description": "Tenant or permission"
                                                                      " not held"})
    app.openapi_schema = document
    return document
