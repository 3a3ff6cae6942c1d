"""The waiting jobs' marks get an index of their own, for the upkeep's sweep that ends
parents whose children have all ended but which no worker ended.

On PostgreSQL a worker now ends a parent after the turn that ended its last child
commits, in a transaction of its own, instead of locking the parent's row inside every
child's turn. A worker that dies between the two leaves the parent waiting; the sweep
finds it from this index, which holds only the waiting jobs (a few generation runs at a
time), not the failed and cancelled ones that `job_marks` keeps beside them.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    waiting = sa.text("status = 'waiting'")
    op.create_index("job_marks_waiting", "job_marks", ["id"],
                    postgresql_where=waiting, sqlite_where=waiting)


def downgrade() -> None:
    op.drop_index("job_marks_waiting", "job_marks")
