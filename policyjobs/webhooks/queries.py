"""What the webhooks API reads: a tenant's endpoints, and the attempts at their deliveries."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from policyjobs.store.readers import Reads, Row
from policyjobs.store.scoping import TENANT, found, paged
from policyjobs.webhooks.models import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)

_ENDPOINTS = paged(sa.select(webhook_endpoints).where(webhook_endpoints.c.tenant == TENANT)
                   .order_by(webhook_endpoints.c.locator))
_ENDPOINT = sa.select(webhook_endpoints).where(
    webhook_endpoints.c.tenant == TENANT, webhook_endpoints.c.locator == sa.bindparam("locator"))

a = webhook_attempts.c
_ATTEMPTS = (sa.select(webhook_attempts, webhook_events.c.type, webhook_deliveries.c.status)
             .join_from(webhook_attempts, webhook_events, webhook_events.c.id == a.event_id)
             .join_from(webhook_attempts, webhook_deliveries,
                        webhook_deliveries.c.locator == a.delivery_locator)
             .where(a.tenant == TENANT, a.endpoint_locator == sa.bindparam("endpoint"))
             .order_by(a.id.desc()))
_ENDPOINT_ATTEMPTS = paged(_ATTEMPTS)
_EVENT_ATTEMPTS = paged(_ATTEMPTS.where(a.event_id == sa.bindparam("event")))


async def endpoints(reads: Reads, *, tenant: str, offset: int, limit: int) -> Sequence[Row]:
    """A page of the tenant's endpoints, oldest first."""
    return await reads.all(_ENDPOINTS, {"tenant": tenant, "offset": offset, "limit": limit})


async def endpoint(reads: Reads, *, tenant: str, locator: str) -> Row:
    """One endpoint of the tenant, or NotFound."""
    return found(await reads.first(_ENDPOINT, {"tenant": tenant, "locator": locator}),
                 f"webhook endpoint {locator} not found")


async def attempts(reads: Reads, *, tenant: str, endpoint_: str, event: str | None,
                   offset: int, limit: int) -> Sequence[Row]:
    """A page of the attempts at an endpoint's deliveries (of one event, if given), newest
    first."""
    await endpoint(reads, tenant=tenant, locator=endpoint_)
    params = {"tenant": tenant, "endpoint": endpoint_, "offset": offset, "limit": limit}
    if event is None:
        return await reads.all(_ENDPOINT_ATTEMPTS, params)
    return await reads.all(_EVENT_ATTEMPTS, params | {"event": event})


def endpoints_of(conn: sa.Connection, *, tenant: str) -> Sequence[Row]:
    """Every endpoint of the tenant, oldest first (for the command line)."""
    return conn.execute(_ENDPOINTS, {"tenant": tenant, "offset": 0, "limit": 100_000}).all()


def attempts_of(conn: sa.Connection, *, tenant: str, endpoint_: str, event: str | None,
                limit: int) -> Sequence[Row]:
    """The latest attempts at an endpoint's deliveries (of one event, if given), newest
    first (for the command line); NotFound for an endpoint the tenant lacks."""
    found(conn.execute(_ENDPOINT, {"tenant": tenant, "locator": endpoint_}).first(),
          f"webhook endpoint {endpoint_} not found")
    params = {"tenant": tenant, "endpoint": endpoint_, "offset": 0, "limit": limit}
    if event is None:
        return conn.execute(_ENDPOINT_ATTEMPTS, params).all()
    return conn.execute(_EVENT_ATTEMPTS, params | {"event": event}).all()
