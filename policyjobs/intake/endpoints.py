"""`POST /platform/{tenantLocator}/events`."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from fastapi import Body, Path, Request, Security
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.conventions import json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.state import runtime_of
from policyjobs.intake.service import accept_events, validate_envelope
from policyjobs.security.tokens import Principal
from policyjobs.tenants.service import tenant_locator

router = secured_router(tags=["intake"])

_ENVELOPE_SCHEMA: dict[str, Any] = {
    "description": "One event object, or {\"events\": [...]} with up to 1000 events.",
    "oneOf": [
        {"type": "object", "required": ["type"], "properties": {
            "type": {"type": "string"}, "eventId": {"type": "string"}}},
        {"type": "object", "required": ["events"], "additionalProperties": False,
         "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 1000,
                                   "items": {"type": "object", "required": ["type"]}}}},
    ],
}


@router.post(
    "/platform/{tenantLocator}/events", status_code=202,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": _ENVELOPE_SCHEMA}}}},
)
def post_events(
    request: Request,
    tenantLocator: Annotated[UUID, Path()],
    principal: Annotated[Principal, Security(guard("events", "write"))],
    body: Annotated[Any, Body()],
) -> Response:
    """Take one event or a batch; every event is checked before anything is written."""
    runtime = runtime_of(request)
    events = validate_envelope(body, runtime.events)
    tenant_id = tenant_locator(str(tenantLocator))
    for attempt in range(_ATTEMPTS):
        try:
            with runtime.db.begin() as conn:
                receipts = accept_events(conn, runtime.queue, tenant=tenant_id,
                                         created_by=principal.user_id, events=events)
            break
        except sa.exc.DBAPIError as exc:
            if attempt == _ATTEMPTS - 1 or not _worth_retrying(exc):
                raise
    return json_response({"events": [r.as_json() for r in receipts]}, 202)


_ATTEMPTS = 3
_DEADLOCK, _SERIALIZATION = "40P01", "40001"


def _worth_retrying(exc: sa.exc.DBAPIError) -> bool:
    """A concurrent request took an eventId first (the replay answers), or PostgreSQL broke a
    deadlock between two batches that lock the same quotes or policies in other orders."""
    if isinstance(exc, sa.exc.IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in (_DEADLOCK, _SERIALIZATION)
