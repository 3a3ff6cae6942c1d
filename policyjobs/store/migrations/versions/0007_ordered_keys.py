"""Ordered keys: jobs that share one run one at a time, in creation order.

The engine now keeps the order that installments kept in `installment_chains`; a job
behind an unfinished one of its key waits in the new status `blocked`.

Revision ID: 0007
Revises: 0006
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from policyjobs.engine.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UNFINISHED = "ordered_key IS NOT NULL AND status IN ('queued', 'blocked', 'leased', 'waiting')"
BLOCKED = "status = 'blocked'"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("ordered_key", sa.String(200)))
    for name, condition in (("jobs_ordered", UNFINISHED), ("jobs_blocked", BLOCKED)):
        where = sa.text(condition)
        op.create_index(name, "jobs", ["tenant", "ordered_key", "id"],
                        postgresql_where=where, sqlite_where=where)
    # Installments jobs still waiting in their chains (queued, postponed until resumed):
    # give them their chain as ordered key, make them due, and block each one that has an
    # unfinished job before it in its chain.
    op.execute("""
        UPDATE jobs SET ordered_key = (SELECT chain FROM installment_jobs
                                       WHERE installment_jobs.job_locator = jobs.locator)
        WHERE kind = 'installments' AND status IN ('queued', 'leased', 'waiting')
    """)
    far = sa.bindparam("far", datetime(9000, 1, 1, tzinfo=UTC), type_=UTCDateTime())
    op.execute(sa.text("UPDATE jobs SET run_at = created_at "
                       "WHERE kind = 'installments' AND status = 'queued' AND run_at > :far"
                       ).bindparams(far))
    op.execute("""
        UPDATE jobs SET status = 'blocked'
        WHERE kind = 'installments' AND status = 'queued' AND ordered_key IS NOT NULL
          AND EXISTS (SELECT 1 FROM jobs AS e
                      WHERE e.tenant = jobs.tenant AND e.ordered_key = jobs.ordered_key
                        AND e.id < jobs.id AND e.status IN ('queued', 'leased', 'waiting'))
    """)
    op.drop_table("installment_chains")


def downgrade() -> None:
    op.create_table(
        "installment_chains",
        sa.Column("tenant", sa.String(36), primary_key=True),
        sa.Column("chain", sa.String(80), primary_key=True),
        sa.Column("last_job_locator", sa.String(26), nullable=False),
    )
    op.execute("UPDATE jobs SET status = 'queued' WHERE status = 'blocked'")
    op.drop_index("jobs_blocked", table_name="jobs")
    op.drop_index("jobs_ordered", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("ordered_key")
