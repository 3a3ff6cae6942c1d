"""Webhooks: tenants' endpoints, the events recorded for them, a delivery per (event,
endpoint) and every attempt at one (`policyjobs.webhooks.models`). No rows exist before.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from policyjobs.engine.schema import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(500)),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text()),
        sa.Column("previous_until", UTCDateTime()),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("failing_since", UTCDateTime()),
        sa.Column("paused_until", UTCDateTime()),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("webhook_endpoints_tenant", "webhook_endpoints", ["tenant", "locator"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(200)),
    )
    op.create_index("webhook_events_dedupe", "webhook_events", ["tenant", "type", "dedupe_key"],
                    unique=True)
    op.create_table(
        "webhook_deliveries",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(26), sa.ForeignKey("webhook_events.id"), nullable=False),
        sa.Column("endpoint_locator", sa.String(26), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("job_locator", sa.String(26), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("event_id", "endpoint_locator", name="webhook_deliveries_once"),
    )
    op.create_index("webhook_deliveries_endpoint", "webhook_deliveries",
                    ["tenant", "endpoint_locator", "locator"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("delivery_locator", sa.String(26), nullable=False),
        sa.Column("endpoint_locator", sa.String(26), nullable=False),
        sa.Column("event_id", sa.String(26), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("error", sa.String(500)),
    )
    op.create_index("webhook_attempts_endpoint", "webhook_attempts",
                    ["tenant", "endpoint_locator", "id"])
    op.create_index("webhook_attempts_event", "webhook_attempts", ["tenant", "event_id", "id"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhook_endpoints")
