"""Operators' actions: paused kinds (`policyjobs.engine.schema.engine_pauses`) and bulk
retries and cancellations (`policyjobs.operations.models.operations_bulk`). No rows exist
before: nothing is paused, and every job's queue row is in its own lane.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from policyjobs.engine.schema import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "engine_pauses",
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(36), primary_key=True),
        sa.Column("locator", sa.String(26), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "operations_bulk",
        sa.Column("job_locator", sa.String(26), primary_key=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(36)),
        sa.Column("filter", JSON, nullable=False),
        sa.Column("through_id", sa.BigInteger(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("done_id", sa.BigInteger(), nullable=False),
        sa.Column("acted", sa.Integer(), nullable=False),
        sa.Column("skipped", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
    )


def downgrade() -> None:
    op.drop_table("operations_bulk")
    op.drop_table("engine_pauses")
