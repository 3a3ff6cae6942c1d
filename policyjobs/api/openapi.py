"""The OpenAPI document: each operation's security group, and problems (400, not 422)."""

from __future__ import annotations

import re
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


def _problems(path: str, method: str, operation: dict[str, Any],
              problem_ref: dict[str, str]) -> None:
    """The problems an operation may answer, as problem+json: 400 for malformed input, 503
    while the database is down, 401 and 403 where a token is needed, 404 where the path
    names something that may not exist, 409 where a change may find the wrong state."""
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    wanted = {"400": "Malformed input",
              "503": "The database is unavailable; `Retry-After` says when to try again"}
    if "x-securityGroup" in operation:
        wanted |= {"401": "No valid token", "403": "Tenant or permission not held"}
    if any(name != "tenantLocator" for name in re.findall(r"{(\w+)}", path)):
        wanted["404"] = "Not found in the tenant"
    if method in ("post", "put", "patch", "delete"):
        wanted["409"] = "Not possible in the current state"
    for status, description in wanted.items():
        responses.setdefault(status, {"description": description})
    for status, response in responses.items():
        if status[:1] in ("4", "5") and "content" not in response:
            response["content"] = {"application/problem+json": {"schema": problem_ref}}


def _bare_array_when_not_extended(operation: dict[str, Any],
                                  schemas: dict[str, Any]) -> None:
    """A list that takes `extended` answers its page object, or with `extended=false` the
    bare array of its items: say so in its 200 schema."""
    if not any(p["name"] == "extended" for p in operation.get("parameters", ())):
        return
    content = operation["responses"]["200"]["content"]["application/json"]
    page = content["schema"]
    if "$ref" in page:
        items = schemas[page["$ref"].rsplit("/", 1)[1]]["properties"]["items"]
        content["schema"] = {"anyOf": [page, {"type": "array", "items": items["items"]}]}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, made once and cached on the app."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes, webhooks=app.webhooks.routes)
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = _PROBLEM
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _problems(path, method, operation, problem_ref)
            _bare_array_when_not_extended(operation, schemas)
    for operations in document.get("webhooks", {}).values():
        for operation in operations.values():  # requests the service makes: no 422 of ours
            operation["responses"].pop("422", None)
    app.openapi_schema = document
    return document
