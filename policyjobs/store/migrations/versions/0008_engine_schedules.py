"""Calendar schedules: one row per schedule, with its next occurrence.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "engine_schedules",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("locator", sa.String(26), nullable=False, unique=True),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("time_of_day", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("next_at", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index("engine_schedules_due", "engine_schedules", ["next_at"])


def downgrade() -> None:
    op.drop_table("engine_schedules")
