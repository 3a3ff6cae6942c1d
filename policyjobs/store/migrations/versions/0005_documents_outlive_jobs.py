"""Documents outlive their jobs: no cascade from `jobs` to `documents`.

A document is an artifact, like an installment: pruning ended jobs
(`POLICYJOBS_PRUNE_AFTER`) must not delete what they rendered. The job's own data
(`documents_jobs`) still goes with the job.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# How SQLite's batch mode names the foreign key that 0002 created without a name.
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("documents_job_locator_fkey", "documents", type_="foreignkey")
        return
    with op.batch_alter_table("documents", naming_convention=_NAMING) as batch:
        batch.drop_constraint("fk_documents_job_locator_jobs", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.create_foreign_key("documents_job_locator_fkey", "jobs", ["job_locator"],
                                 ["locator"], ondelete="CASCADE")
