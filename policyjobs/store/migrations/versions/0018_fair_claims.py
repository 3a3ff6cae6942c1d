"""Claims share the fleet among tenants and lanes: the queue row knows its job's tenant and
lane, and a tenant's configuration may cap its running jobs and set its kinds' lanes.

- `jobs.lane` is the lane the job's enqueuer chose (0 interactive, 1 standard, 2 batch);
  `job_queue.lane` the one claims go by (the tenant's for the kind, if its configuration
  sets one), and `job_queue.tenant` its job's. Jobs made before now have no lane; those
  in the queue are given the lane their kind's enqueuer now chooses (below), and their
  queue rows their tenant.
- `job_queue_fair` (tenant, lane, run-at, id, of the queued rows) is what a claim walks, a
  tenant and lane at a time, and the metrics and the busy check too. It replaces
  `job_queue_due` (run-at, id), which PostgreSQL sometimes walked past a busy tenant's
  backlog in run-at order to find a rare tenant's job. `job_queue_leased` is now on the
  leased rows' tenant and expiry, so that it counts a tenant's running jobs.
- `engine_tenants` holds each capped tenant's cap, `engine_lanes` each tenant's lanes by
  kind; no tenant has either yet (`policyjobs tenant configure` sets them).

Processes of an older release make queue rows without a tenant, so none may run beside
this one.

Revision ID: 0018
Revises: 0017
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

QUEUED = "status = 'queued'"
LEASED = "status = 'leased'"
# The lane each kind's enqueuer chooses at this revision: a documents job of an invoice
# is batch work, any other is someone's quote or policy.
LANE = """CASE
    WHEN kind = 'documents' AND reference_type = 'invoice' THEN 2
    WHEN kind IN ('documents', 'installments', 'invoicing.account') THEN 0
    WHEN kind IN ('invoicing.instance', 'delinquency.create', 'delinquency.grace',
                  'delinquency.event') THEN 2
    ELSE 1 END"""


def _where(condition: str) -> dict[str, Any]:
    clause = sa.text(condition)
    return {"postgresql_where": clause, "sqlite_where": clause}


def upgrade() -> None:
    op.add_column("jobs", sa.Column("lane", sa.SmallInteger()))
    op.add_column("job_queue", sa.Column("tenant", sa.String(36)))
    op.add_column("job_queue", sa.Column("lane", sa.SmallInteger()))
    op.execute(f"UPDATE jobs SET lane = {LANE} WHERE id IN (SELECT id FROM job_queue)")
    op.execute("UPDATE job_queue SET "
               "tenant = (SELECT tenant FROM jobs WHERE jobs.id = job_queue.id), "
               "lane = (SELECT lane FROM jobs WHERE jobs.id = job_queue.id)")
    op.execute("DELETE FROM job_queue WHERE tenant IS NULL")  # a queue row with no job
    with op.batch_alter_table("job_queue") as table:
        table.alter_column("tenant", existing_type=sa.String(36), nullable=False)
        table.alter_column("lane", existing_type=sa.SmallInteger(), nullable=False)
    op.create_index("job_queue_fair", "job_queue", ["tenant", "lane", "run_at", "id"],
                    **_where(QUEUED))
    op.drop_index("job_queue_due", "job_queue")
    op.drop_index("job_queue_leased", "job_queue")
    op.create_index("job_queue_leased", "job_queue", ["tenant", "leased_until"],
                    **_where(LEASED))
    op.create_table(
        "engine_tenants",
        sa.Column("tenant", sa.String(36), primary_key=True),
        sa.Column("max_running", sa.Integer()),
    )
    op.create_table(
        "engine_lanes",
        sa.Column("tenant", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("lane", sa.SmallInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("engine_lanes")
    op.drop_table("engine_tenants")
    op.drop_index("job_queue_leased", "job_queue")
    op.create_index("job_queue_leased", "job_queue", ["leased_until"], **_where(LEASED))
    op.create_index("job_queue_due", "job_queue", ["run_at", "id"], **_where(QUEUED))
    op.drop_index("job_queue_fair", "job_queue")
    with op.batch_alter_table("job_queue") as table:
        table.drop_column("lane")
        table.drop_column("tenant")
    with op.batch_alter_table("jobs") as table:
        table.drop_column("lane")
