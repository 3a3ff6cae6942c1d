"""Jobs in a rare status (waiting, failed, cancelled) are listed in `job_marks`, so the
operators' views find a tenant's failed or waiting jobs without reading its whole history.

`jobs` has no index on its status, so that a job's updates stay HOT (see 0011); the
queue's own statuses live on `job_queue`. Each engine path that moves a job into or out of
those statuses brings its mark along in the same transaction (`Backend.mark`); existing
jobs are copied in. Processes of an older release do not, so none may run beside this one.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

MARKED = "('waiting', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "job_marks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("tenant", sa.String(36), nullable=False),
        sa.Column("locator", sa.String(26), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("job_marks_status", "job_marks", ["tenant", "status", "locator"])
    op.execute(f"INSERT INTO job_marks (id, tenant, locator, status) "
               f"SELECT id, tenant, locator, status FROM jobs WHERE status IN {MARKED}")


def downgrade() -> None:
    op.drop_table("job_marks")
