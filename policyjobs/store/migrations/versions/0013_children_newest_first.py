"""A parent's children are indexed in id order, so ending one looks at the newest first.

A child's end checks whether its waiting parent has an unfinished child left. Children end
about in the order they were made, so a scan of the children from the oldest walked every
child already ended before it found one still to run: each end cost in proportion to its
finished siblings, and a run of thousands cost in their square. From the newest, an
unfinished child is found at once while any remain.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_CHILDREN = sa.text("parent_locator IS NOT NULL")


def upgrade() -> None:
    op.drop_index("jobs_parent", "jobs")
    op.create_index("jobs_parent", "jobs", ["parent_locator", "id"],
                    postgresql_where=_CHILDREN, sqlite_where=_CHILDREN)


def downgrade() -> None:
    op.drop_index("jobs_parent", "jobs")
    op.create_index("jobs_parent", "jobs", ["parent_locator"],
                    postgresql_where=_CHILDREN, sqlite_where=_CHILDREN)
