"""The app's own tables beside the engine's: tenants, tokens and intake receipts."""

from __future__ import annotations

import sqlalchemy as sa

from policyjobs.engine.schema import JSONDoc, UTCDateTime
from policyjobs.engine.schema import metadata as engine_metadata

metadata = engine_metadata  # one MetaData, so foreign keys can reach the jobs table

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("locator", sa.String(36), primary_key=True),
    sa.Column("config", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("retired_at", UTCDateTime()),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("tenants", JSONDoc, nullable=False),  # UUID strings, or ["any"]
    sa.Column("permissions", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime()),
    sa.Column("revoked_at", UTCDateTime()),
)

intake_events = sa.Table(
    "intake_events",
    metadata,
    sa.Column("tenant", sa.String(36), primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("receipt", JSONDoc, nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)
