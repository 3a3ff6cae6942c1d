"""The tokens table: personal access tokens, kept as hashes."""

from __future__ import annotations

import sqlalchemy as sa

from policyjobs.store.schema import JSONDoc, UTCDateTime, metadata

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
