"""Documents: the deadline is a budget of rendering time per attempt, not a point in time.

`deadline_at` (set when the job was made, so time in the queue counted against it) and
`handled_at` (which the duty that marked overdue jobs read) go; `render_attempts` counts
the attempts that started rendering since the last retrigger, so a job whose workers keep
dying mid-render is timed out instead of retried forever.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_index("documents_jobs_deadline", table_name="documents_jobs")
    with op.batch_alter_table("documents_jobs") as batch:
        batch.add_column(sa.Column("render_attempts", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.drop_column("deadline_at")
        batch.drop_column("handled_at")


def downgrade() -> None:
    with op.batch_alter_table("documents_jobs") as batch:
        batch.drop_column("render_attempts")
        batch.add_column(sa.Column("deadline_at", TIME, nullable=False,
                                   server_default=sa.func.now()))
        batch.add_column(sa.Column("handled_at", TIME))
    pending = sa.text("timed_out_at IS NULL AND handled_at IS NULL")
    op.create_index("documents_jobs_deadline", "documents_jobs", ["deadline_at"],
                    postgresql_where=pending, sqlite_where=pending)
