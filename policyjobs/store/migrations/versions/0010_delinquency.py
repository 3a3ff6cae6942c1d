"""Delinquency: delinquencies, their events, and the data of the delinquency jobs.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "delinquencies",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("invoice_locator", sa.String(26), nullable=False, unique=True),
        sa.Column("account_locator", sa.String(64), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("grace_start", TIME, nullable=False),
        sa.Column("grace_end", TIME, nullable=False),
        sa.Column("held_at", TIME),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("configured_events", JSON, nullable=False),
        sa.Column("grace_job_locator", sa.String(26), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("delinquencies_invoice", "delinquencies",
                    ["tenant", "invoice_locator", "locator"])
    op.create_table(
        "delinquency_events",
        sa.Column("locator", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("delinquency_locator", sa.String(26), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("trigger_time", TIME, nullable=False),
        sa.Column("triggered_at", TIME),
        sa.Column("job_locator", sa.String(26), nullable=False),
        sa.Column("notice", JSON),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("updated_by", sa.String(36), nullable=False),
    )
    op.create_index("delinquency_events_delinquency", "delinquency_events",
                    ["delinquency_locator", "locator"])
    op.create_table(
        "delinquency_jobs",
        sa.Column("job_locator", sa.String(26),
                  sa.ForeignKey("jobs.locator", ondelete="CASCADE"), primary_key=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("job_type", sa.String(8), nullable=False),
        sa.Column("invoice_locator", sa.String(26)),
        sa.Column("delinquency_locator", sa.String(26)),
        sa.Column("event_locator", sa.String(26)),
        sa.Column("due_time", TIME),
        sa.Column("trigger_time", TIME),
        sa.Column("outcome", sa.String(16)),
        sa.Column("delinquency_locators", JSON),
        sa.Column("cancellation_type", sa.String(24)),
        sa.Column("rescheduled_by_locator", sa.String(26)),
        sa.Column("updated_event_locators", JSON),
        sa.Column("updated_at", TIME, nullable=False),
    )


def downgrade() -> None:
    for table in ("delinquency_jobs", "delinquency_events", "delinquencies"):
        op.drop_table(table)
