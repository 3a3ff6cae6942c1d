"""The OpenAPI document: each operation's security group, and 400 problems instead of 422."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
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
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        guard = _guard_of(route.dependant)
        for method in route.methods or ():
            operation = document["paths"][route.path_format].get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            problem = {"description": "A problem", "content": {
                "application/problem+json": {"schema": problem_ref}}}
            responses.setdefault("400", {**problem, "description": "Malformed input"})
            if guard is not None:
                operation["x-securityGroup"] = guard.security_group
                operation["x-securityPermission"] = guard.security_permissions
                responses.setdefault("401", {**problem, "description": "No valid token"})
                responses.setdefault("403", {**problem, "description": "Tenant or permission"
                                                                      " not held"})
    app.openapi_schema = document
    return document
