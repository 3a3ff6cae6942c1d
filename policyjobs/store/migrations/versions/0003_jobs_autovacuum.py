"""PostgreSQL: vacuum and analyze the jobs table often, so claims keep their index plans.

The queue rewrites every row several times in its life; at PostgreSQL's default
thresholds dead index entries pile up and statistics go stale between vacuums,
and a claim planned on stale statistics may sort the whole backlog.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, "
                   "autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE jobs RESET (autovacuum_vacuum_scale_factor, "
                   "autovacuum_analyze_scale_factor, autovacuum_vacuum_cost_delay)")
