"""The operations domain's table: each bulk action's filter and progress."""

from __future__ import annotations

import sqlalchemy as sa

from policyjobs.store.schema import JSONDoc, UTCDateTime, metadata

RETRY, CANCEL = "retry", "cancel"
BULK = "operations.bulk"  # the kind of a bulk action's job

# A bulk retry or cancel, by the locator of the job that runs it: what it takes (the filter
# as asked, the jobs up to `through_id`), how many matched when asked, and how far it got:
# the last job id done, how many it acted on, and how many it skipped, by reason. The job
# walks the jobs a batch at a time; each batch's actions and this row's progress commit
# together, so a job taken over after its worker died goes on from the last batch done.
operations_bulk = sa.Table(
    "operations_bulk",
    metadata,
    sa.Column("job_locator", sa.String(26), primary_key=True),
    sa.Column("action", sa.String(16), nullable=False),  # RETRY or CANCEL
    sa.Column("tenant", sa.String(36)),  # the filter's tenant; None: every tenant
    sa.Column("filter", JSONDoc, nullable=False),  # as the API's fields name it
    sa.Column("through_id", sa.BigInteger(), nullable=False),
    sa.Column("matched", sa.Integer(), nullable=False),
    sa.Column("done_id", sa.BigInteger(), nullable=False),
    sa.Column("acted", sa.Integer(), nullable=False),
    sa.Column("skipped", JSONDoc, nullable=False),  # {reason: count}
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
)
