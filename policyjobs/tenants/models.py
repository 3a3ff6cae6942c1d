"""The tenants table: each tenant's UUID, stored configuration and retirement."""

from __future__ import annotations

import sqlalchemy as sa

from policyjobs.store.schema import JSONDoc, UTCDateTime, metadata

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("locator", sa.String(36), primary_key=True),
    sa.Column("config", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("retired_at", UTCDateTime()),
)
