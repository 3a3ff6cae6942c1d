"""The webhooks endpoints, under `/platform/{tenantLocator}/webhooks`: a tenant's endpoints,
their secrets, the attempts at their deliveries, and resends."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request, Security
from starlette.responses import Response

from policyjobs.api.auth import guard
from policyjobs.api.conventions import json_response
from policyjobs.api.openapi import secured_router
from policyjobs.api.pagination import Page, list_response, page
from policyjobs.api.state import reads_of, runtime_of
from policyjobs.security.audit import Actor
from policyjobs.security.tokens import Principal
from policyjobs.webhooks import queries, service
from policyjobs.webhooks.schemas import (
    WebhookAttempt,
    WebhookAttemptList,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointList,
    WebhookEndpointUpdate,
    WebhookResend,
    WebhookResent,
    WebhookSecret,
    event_models,
)

Reader = Annotated[Principal, Security(guard("webhooks", "read"))]
Writer = Annotated[Principal, Security(guard("webhooks", "write"))]
Tenant = Annotated[UUID, Path(description="The tenant's UUID.")]
Locator = Annotated[str, Path(min_length=1, max_length=26)]
Paged = Annotated[Page, Depends(page)]


def webhooks_router(keys: service.Keys) -> APIRouter:
    """The routes, holding endpoints' secrets and URLs to `keys`."""
    router = secured_router(prefix="/platform/{tenantLocator}/webhooks", tags=["webhooks"])

    @router.post("", operation_id="createWebhookEndpoint", status_code=201,
                 response_model=WebhookEndpoint)
    def create_webhook_endpoint(request: Request, tenantLocator: Tenant,
                                body: WebhookEndpointCreate, principal: Writer) -> Response:
        """Subscribe a URL to the tenant's events; the answer shows its secret, this once."""
        runtime = runtime_of(request)
        with runtime.db.begin() as conn:
            locator, secret = service.create(
                conn, keys, tenant=str(tenantLocator), url=body.url,
                event_types=body.eventTypes, description=body.description,
                created_by=principal.user_id, now=runtime.clock.now())
            row = service.read(conn, tenant=str(tenantLocator), locator=locator)
            _audited(conn, runtime.clock.now(), principal, row.tenant, locator, "create",
                     url=row.url, eventTypes=list(row.event_types))
        return json_response(WebhookEndpoint.of(row, secret), status_code=201)

    @router.get("/list", operation_id="listWebhookEndpoints", response_model=WebhookEndpointList)
    async def list_webhook_endpoints(request: Request, tenantLocator: Tenant, _principal: Reader,
                                     page_: Paged) -> Response:
        """The tenant's endpoints, oldest first."""
        rows = await queries.endpoints(reads_of(request), tenant=str(tenantLocator),
                                       offset=page_.offset, limit=page_.probe)
        return list_response(rows, page_, WebhookEndpoint.of)

    @router.get("/{locator}", operation_id="getWebhookEndpoint", response_model=WebhookEndpoint)
    async def get_webhook_endpoint(request: Request, tenantLocator: Tenant, locator: Locator,
                                   _principal: Reader) -> Response:
        """One endpoint (without its secret)."""
        row = await queries.endpoint(reads_of(request), tenant=str(tenantLocator),
                                     locator=locator)
        return json_response(WebhookEndpoint.of(row))

    @router.patch("/{locator}", operation_id="updateWebhookEndpoint",
                  response_model=WebhookEndpoint)
    def update_webhook_endpoint(request: Request, tenantLocator: Tenant, locator: Locator,
                                body: WebhookEndpointUpdate, principal: Writer) -> Response:
        """Change an endpoint's URL, event types, description, or whether it is enabled
        (enabling it again forgets why it was disabled)."""
        runtime = runtime_of(request)
        with runtime.db.begin() as conn:
            service.update(conn, keys, tenant=str(tenantLocator), locator=locator,
                           changes=service.Changes(body.url, body.eventTypes, body.description,
                                                   body.enabled),
                           now=runtime.clock.now())
            row = service.read(conn, tenant=str(tenantLocator), locator=locator)
            _audited(conn, runtime.clock.now(), principal, row.tenant, locator, "update",
                     **body.model_dump(exclude_unset=True))
        return json_response(WebhookEndpoint.of(row))

    @router.delete("/{locator}", operation_id="deleteWebhookEndpoint", status_code=204,
                   response_class=Response)
    def delete_webhook_endpoint(request: Request, tenantLocator: Tenant, locator: Locator,
                                principal: Writer) -> Response:
        """Remove an endpoint; its deliveries not yet made are not made."""
        runtime = runtime_of(request)
        with runtime.db.begin() as conn:
            row = service.read(conn, tenant=str(tenantLocator), locator=locator)
            service.delete(conn, tenant=str(tenantLocator), locator=locator)
            _audited(conn, runtime.clock.now(), principal, row.tenant, locator, "delete",
                     url=row.url)
        return Response(status_code=204)

    @router.post("/{locator}/rotateSecret", operation_id="rotateWebhookSecret",
                 response_model=WebhookSecret)
    def rotate_webhook_secret(request: Request, tenantLocator: Tenant, locator: Locator,
                              principal: Writer) -> Response:
        """A new secret, shown this once; deliveries are signed with the old one too for
        24 hours, so receivers can switch at their pace."""
        runtime = runtime_of(request)
        with runtime.db.begin() as conn:
            secret = service.rotate(conn, keys, tenant=str(tenantLocator), locator=locator,
                                    now=runtime.clock.now())
            _audited(conn, runtime.clock.now(), principal, str(tenantLocator), locator,
                     "rotateSecret")
        return json_response(WebhookSecret(locator=locator, secret=secret))

    @router.get("/{locator}/deliveries/list", operation_id="listWebhookDeliveries",
                response_model=WebhookAttemptList)
    async def list_webhook_deliveries(
            request: Request, tenantLocator: Tenant, locator: Locator, _principal: Reader,
            page_: Paged, eventId: Annotated[str | None, Query(
                min_length=1, max_length=26, description="Only this event's.")] = None,
    ) -> Response:
        """Every attempt at the endpoint's deliveries (of one event, if given), newest
        first: when, the status code, how long it took, the first KiB of the answer."""
        rows = await queries.attempts(reads_of(request), tenant=str(tenantLocator),
                                      endpoint_=locator, event=eventId, offset=page_.offset,
                                      limit=page_.probe)
        return list_response(rows, page_, WebhookAttempt.of)

    @router.post("/{locator}/resend", operation_id="resendWebhookDeliveries",
                 response_model=WebhookResent)
    def resend_webhook_deliveries(request: Request, tenantLocator: Tenant, locator: Locator,
                                  body: WebhookResend, principal: Writer) -> Response:
        """Deliver one event to the endpoint again, or every delivery of it that failed
        since a time; each keeps its event's id (`webhook-id`)."""
        runtime = runtime_of(request)
        with runtime.db.begin() as conn:
            resent = service.resend(conn, runtime.queue, tenant=str(tenantLocator),
                                    endpoint=locator, event_id=body.eventId,
                                    failed_since=body.failedSince, now=runtime.clock.now(),
                                    created_by=principal.user_id)
            _audited(conn, runtime.clock.now(), principal, str(tenantLocator), locator, "resend",
                     eventId=body.eventId, deliveryLocators=resent,
                     failedSince=body.failedSince.isoformat() if body.failedSince else None)
        return json_response(WebhookResent(deliveryLocators=resent))

    return router


def _audited(conn: sa.Connection, now: datetime, principal: Principal, tenant: str,
             locator: str, change: str, **details: Any) -> None:
    service.audited(conn, Actor.of(principal), now, tenant=tenant, locator=locator,
                    change=change, **details)


DELIVERED = ("POSTed to each enabled endpoint subscribed to the type, signed as Standard "
             "Webhooks says (`webhook-id`, the event's id; `webhook-timestamp`; "
             "`webhook-signature`); failed attempts are retried after 5 s, 5 min, 30 min, "
             "2 h, 5 h, 10 h and 10 h.")


@functools.cache
def events_router() -> APIRouter:
    """What every delivery sends, one webhook per event type, for the OpenAPI document:
    POSTed to the endpoint's URL, signed with `webhook-id`, `webhook-timestamp` and
    `webhook-signature`; any 2xx within 15 s takes it. Built once a process: it depends on
    the catalogue alone, and each app includes it as it is, for its document only."""
    router = APIRouter(tags=["webhooks"])
    for name, model in event_models().items():
        def receive(body: Any) -> None:  # never called: the service makes this request
            pass

        receive.__annotations__ = {"body": model, "return": None}  # resolved, per type
        router.add_api_route(name, receive, methods=["POST"], operation_id=name,
                             summary=model.__doc__, description=DELIVERED, status_code=204,
                             response_class=Response, responses={204: {
                                 "description": "Any 2xx within 15 s takes the delivery."}})
    return router
