"""Creating, configuring, retiring and reading tenants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from policyjobs.exceptions import FieldProblem, InvalidInput, NotFound
from policyjobs.store.kept import read_kept
from policyjobs.tenants.config import StoredConfig, TenantConfig, dump_tenant_config
from policyjobs.tenants.models import tenants


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant and its stored configuration."""

    locator: str
    config: StoredConfig
    created_at: datetime
    retired_at: datetime | None


def tenant_locator(text: str, field: str = "tenantLocator") -> str:
    """A tenant's UUID in canonical form, or `InvalidInput` naming `field`."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InvalidInput(f"{field} {text!r} is not a UUID",
                           [FieldProblem(field, "must be a UUID")]) from None


def create_tenant(conn: sa.Connection, config: TenantConfig, now: datetime) -> str:
    """Add a tenant; its new UUID."""
    locator = str(uuid.uuid4())
    conn.execute(tenants.insert().values(
        locator=locator, config=dump_tenant_config(config), created_at=now,
    ))
    return locator


_TENANT = sa.select(tenants).where(tenants.c.locator == sa.bindparam("locator"))


def get_tenant(conn: sa.Connection, locator: str) -> Tenant:
    """The tenant `locator`, or `NotFound`; as this process keeps it, if it does (`kept`),
    its configuration's sections parsed once."""
    return read_kept(conn, "tenants", locator, lambda: _read_tenant(conn, locator))


def _read_tenant(conn: sa.Connection, locator: str) -> Tenant:
    row = conn.execute(_TENANT, {"locator": locator}).first()
    if row is None:
        raise NotFound(f"no tenant {locator}")
    return Tenant(row.locator, StoredConfig(row.config), row.created_at, row.retired_at)


def active_tenants(conn: sa.Connection) -> list[str]:
    """The UUID of every tenant not retired."""
    return list(conn.execute(sa.select(tenants.c.locator)
                             .where(tenants.c.retired_at.is_(None))).scalars())


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
