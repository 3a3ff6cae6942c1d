"""Creating, configuring, retiring and reading tenants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.exceptions import NotFound
from policyjobs.store.tables import tenants
from policyjobs.tenants.config import TenantConfig, dump_tenant_config, parse_tenant_config


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant and its configuration."""

    locator: str
    config: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None

    @property
    def settings(self) -> TenantConfig:
        """The configuration as validated models."""
        return parse_tenant_config(self.config)


def create_tenant(conn: sa.Connection, config: TenantConfig, now: datetime) -> str:
    """Add a tenant; its new UUID."""
    locator = str(uuid.uuid4())
    conn.execute(tenants.insert().values(
        locator=locator, config=dump_tenant_config(config), created_at=now,
    ))
    return locator


def get_tenant(conn: sa.Connection, locator: str) -> Tenant:
    """The tenant `locator`, or `NotFound`."""
    row = conn.execute(sa.select(tenants).where(tenants.c.locator == locator)).first()
    if row is None:
        raise NotFound(f"no tenant {locator}")
    return Tenant(row.locator, row.config, row.created_at, row.retired_at)


def configure_tenant(conn: sa.Connection, locator: str, config: TenantConfig) -> None:
    """Replace a tenant's configuration."""
    get_tenant(conn, locator)
    conn.execute(tenants.update().where(tenants.c.locator == locator)
                 .values(config=dump_tenant_config(config)))


def retire_tenant(conn: sa.Connection, locator: str, now: datetime) -> bool:
    """Retire a tenant, blocking its intake; False if it was already retired."""
    if get_tenant(conn, locator).retired_at is not None:
        return False
    conn.execute(tenants.update().where(tenants.c.locator == locator).values(retired_at=now))
    return True
