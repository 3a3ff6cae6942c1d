"""The foundation: the jobs queue, scheduler leadership, test clock, tenants, tokens, intake.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)
ENDED = "status IN ('finished', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("locator", sa.String(26), nullable=False, unique=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("reference_type", sa.String(32)),
        sa.Column("reference_locator", sa.String(64)),
        sa.Column("parent_locator", sa.String(26)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_at", TIME, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_expires_at", TIME),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("result", JSON),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(200)),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("started_at", TIME),
        sa.Column("finished_at", TIME),
        sa.Column("updated_at", TIME, nullable=False),
    )
    queued = sa.text("status = 'queued'")
    op.create_index("jobs_runnable", "jobs", ["run_at", "id"],
                    postgresql_where=queued, sqlite_where=queued)
    leased = sa.text("status = 'leased'")
    op.create_index("jobs_leased", "jobs", ["lease_expires_at"],
                    postgresql_where=leased, sqlite_where=leased)
    op.create_index("jobs_reference", "jobs",
                    ["tenant", "reference_type", "reference_locator", "kind", "locator"])
    has_parent = sa.text("parent_locator IS NOT NULL")
    op.create_index("jobs_parent", "jobs", ["parent_locator"],
                    postgresql_where=has_parent, sqlite_where=has_parent)
    deduped = sa.text("dedupe_key IS NOT NULL")
    op.create_index("jobs_dedupe", "jobs", ["tenant", "kind", "dedupe_key"], unique=True,
                    postgresql_where=deduped, sqlite_where=deduped)
    ended = sa.text(ENDED)
    op.create_index("jobs_ended", "jobs", ["finished_at"],
                    postgresql_where=ended, sqlite_where=ended)

    op.create_table(
        "engine_leaders",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
    )
    op.create_table(
        "engine_clock",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("offset_us", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "tenants",
        sa.Column("locator", sa.String(36), primary_key=True),
        sa.Column("config", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("retired_at", TIME),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("tenants", JSON, nullable=False),
        sa.Column("permissions", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME),
        sa.Column("revoked_at", TIME),
    )
    op.create_table(
        "intake_events",
        sa.Column("tenant", sa.String(36), primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("receipt", JSON, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
    )


def downgrade() -> None:
    for table in ("intake_events", "tokens", "tenants", "engine_clock", "engine_leaders", "jobs"):
        op.drop_table(table)
