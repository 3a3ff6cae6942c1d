"""The tokens table (personal access tokens, kept as hashes) and the audit trail."""

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

# Every operator action, who made it and when; append-only (the store refuses an UPDATE or
# a DELETE of a row: migration 0020).
audit_records = sa.Table(
    "audit_records",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("locator", sa.String(26), nullable=False, unique=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("token_locator", sa.String(26)),  # None: the command line, on the host
    sa.Column("actor", sa.String(100), nullable=False),  # the token's user, or the host's
    sa.Column("tenant", sa.String(36)),  # None: no one tenant (the clock, a token for any)
    sa.Column("details", JSONDoc, nullable=False),
    # Newest first by time, each filter walking an index in that order from its condition.
    sa.Index("ix_audit_records_tenant", "tenant", "at", "id"),
    sa.Index("ix_audit_records_action", "action", "at", "id"),
    sa.Index("ix_audit_records_at", "at", "id"),
)
