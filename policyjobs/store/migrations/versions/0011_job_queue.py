"""The queue apart from the jobs: a narrow `job_queue` row per queued, blocked or leased job.

Every index on `jobs` that named a column the engine changes as a job runs (its status,
run-at, lease and end) moves to `job_queue` or goes, so claiming and ending a job update
its `jobs` row in place (a HOT update on PostgreSQL, with room left on each page for it);
pruning walks the jobs by creation time instead of by end.

Revision ID: 0011
Revises: 0010
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from policyjobs.engine.schema import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNFINISHED = "ordered_key IS NOT NULL AND status IN ('queued', 'blocked', 'leased', 'waiting')"


def _where(condition: str) -> dict[str, Any]:
    clause = sa.text(condition)
    return {"postgresql_where": clause, "sqlite_where": clause}


def upgrade() -> None:
    op.create_table(
        "job_queue",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_at", UTCDateTime(), nullable=False),
        sa.Column("owner", sa.String(128)),
        sa.Column("leased_until", UTCDateTime()),
    )
    op.execute("""
        INSERT INTO job_queue (id, kind, status, run_at, owner, leased_until)
        SELECT id, kind, status, run_at, lease_owner, lease_expires_at FROM jobs
        WHERE status IN ('queued', 'blocked', 'leased')
    """)
    op.create_index("job_queue_due", "job_queue", ["run_at", "id"],
                    **_where("status = 'queued'"))
    op.create_index("job_queue_leased", "job_queue", ["leased_until"],
                    **_where("status = 'leased'"))
    op.create_index("job_queue_blocked", "job_queue", ["id"], **_where("status = 'blocked'"))
    for name in ("jobs_runnable", "jobs_leased", "jobs_ended", "jobs_blocked", "jobs_ordered"):
        op.drop_index(name, table_name="jobs")
    op.create_index("jobs_ordered", "jobs", ["tenant", "ordered_key", "id"],
                    **_where("ordered_key IS NOT NULL"))
    op.create_index("jobs_created", "jobs", ["created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE jobs SET (fillfactor = 50)")
        op.execute("ALTER TABLE job_queue SET (autovacuum_vacuum_scale_factor = 0.01, "
                   "autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE jobs RESET (fillfactor)")
    op.drop_index("jobs_created", table_name="jobs")
    op.drop_index("jobs_ordered", table_name="jobs")
    op.create_index("jobs_ordered", "jobs", ["tenant", "ordered_key", "id"], **_where(UNFINISHED))
    op.create_index("jobs_blocked", "jobs", ["tenant", "ordered_key", "id"],
                    **_where("status = 'blocked'"))
    op.create_index("jobs_ended", "jobs", ["finished_at"],
                    **_where("status IN ('finished', 'failed', 'cancelled')"))
    op.create_index("jobs_leased", "jobs", ["lease_expires_at"], **_where("status = 'leased'"))
    op.create_index("jobs_runnable", "jobs", ["run_at", "id"], **_where("status = 'queued'"))
    op.drop_table("job_queue")
