"""A job's lease lives on its queue row only.

Claiming a job and every heartbeat wrote its `jobs` row as well as its queue row; now they
write the queue row only (which gains the attempt it runs and when that started), so a
job's wide row is written when it is made and when each attempt ends. `jobs` loses its
lease columns; a leased job's row says `queued`.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from policyjobs.engine.schema import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_queue") as table:
        table.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("started_at", UTCDateTime()))
    op.execute("""
        UPDATE job_queue SET
            attempt = (SELECT attempt FROM jobs WHERE jobs.id = job_queue.id),
            started_at = (SELECT started_at FROM jobs WHERE jobs.id = job_queue.id)
    """)
    # A leased job's row counts the attempt it runs; the queue row holds that count now.
    op.execute("""
        UPDATE jobs SET status = 'queued', attempt = attempt - 1
        WHERE status = 'leased'
    """)
    with op.batch_alter_table("jobs") as table:
        table.drop_column("lease_owner")
        table.drop_column("lease_expires_at")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as table:
        table.add_column(sa.Column("lease_owner", sa.String(128)))
        table.add_column(sa.Column("lease_expires_at", UTCDateTime()))
    op.execute("""
        UPDATE jobs SET status = 'leased',
            attempt = (SELECT attempt FROM job_queue WHERE job_queue.id = jobs.id),
            lease_owner = (SELECT owner FROM job_queue WHERE job_queue.id = jobs.id),
            lease_expires_at = (SELECT leased_until FROM job_queue WHERE job_queue.id = jobs.id)
        WHERE id IN (SELECT id FROM job_queue WHERE status = 'leased')
    """)
    with op.batch_alter_table("job_queue") as table:
        table.drop_column("started_at")
        table.drop_column("attempt")
