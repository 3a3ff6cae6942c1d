"""The engine's tables: the jobs queue, scheduler leadership and the test clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

from policyjobs.engine.jobs import JobStatus

metadata = sa.MetaData()

# An execution option: transactions that only read. On SQLite they begin without taking
# the write lock, so a read inside another connection's write transaction cannot wait on it.
READ_ONLY = "policyjobs_read_only"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime on every dialect; SQLite keeps it as sortable text."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store UTC, and on SQLite without the offset so the text sorts."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """None where the driver returns aware UTC datetimes itself (asyncpg does), so its rows
        are not made again for nothing; else the conversion above."""
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)


JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, on both dialects."""
    clause = sa.text(condition)
    return {"postgresql_where": clause, "sqlite_where": clause}


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("locator", sa.String(26), nullable=False, unique=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("reference_type", sa.String(32)),
    sa.Column("reference_locator", sa.String(64)),
    sa.Column("parent_locator", sa.String(26)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("run_at", UTCDateTime(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("payload", JSONDoc, nullable=False),
    sa.Column("result", JSONDoc),
    sa.Column("errors", JSONDoc, nullable=False),
    sa.Column("dedupe_key", sa.String(200)),
    sa.Column("ordered_key", sa.String(200)),
    # The lane its enqueuer chose (`Lane`); its queue row's may be its tenant's for the kind.
    # None for jobs made before lanes.
    sa.Column("lane", sa.SmallInteger()),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # No index names a column the engine changes as a job runs (status, attempt, run-at,
    # times, result), so ending a job is a HOT update on PostgreSQL: no index entry is
    # written. A job's lease lives on its `job_queue` row, so claiming it, and every
    # heartbeat, write that row only: a job's `jobs` row is written when it is made and
    # when each of its attempts ends, and says `queued` while a worker holds it.
    # A reference's locator before its type: a filter on the locator alone narrows by it.
    sa.Index("jobs_reference", "tenant", "reference_locator", "reference_type", "kind",
             "locator"),
    # A parent's children in id order: the newest unfinished one is found first.
    sa.Index("jobs_parent", "parent_locator", "id", **_where("parent_locator IS NOT NULL")),
    sa.Index("jobs_dedupe", "tenant", "kind", "dedupe_key", unique=True,
             **_where("dedupe_key IS NOT NULL")),
    sa.Index("jobs_ordered", "tenant", "ordered_key", "id",
             **_where("ordered_key IS NOT NULL")),
    sa.Index("jobs_created", "created_at"),  # pruning walks the oldest jobs
    # On PostgreSQL the table keeps room on each page for a row's next versions, which HOT
    # writes to the same page (fillfactor 50, set by migration 0011).
)

# The jobs that are queued, blocked behind their ordered key, or leased: a narrow row per
# job, written as it is queued, claimed and ended, and deleted when it ends. Its status
# and run-at mirror the job's, but for `leased`, which only it records, with the lease's
# owner and expiry and the attempt it runs (one more than the job's `attempt`) since
# `started_at`, and the job's tenant and the lane its claims go by. Its partial indexes are
# the claim's (`job_queue_fair`, walked a tenant and lane at a time, as the metrics and the
# busy check walk it too), the leased rows' (a tenant's running jobs; the rescuer and the
# heartbeat read them all) and the unblocking sweep's. A job's queue row is locked before
# its jobs row on every path that takes both.
job_queue = sa.Table(
    "job_queue",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("lane", sa.SmallInteger(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued, blocked or leased
    sa.Column("run_at", UTCDateTime(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("owner", sa.String(128)),
    sa.Column("leased_until", UTCDateTime()),
    sa.Column("started_at", UTCDateTime()),
    # Not also (run-at, id): PostgreSQL would walk that past one tenant's backlog to find
    # another's job, and each index on the queued rows costs every enqueue.
    sa.Index("job_queue_fair", "tenant", "lane", "run_at", "id",
             **_where("status = 'queued'")),
    # A tenant's running jobs are its prefix. The expiry after it keeps a claim's entries
    # (their leases end together, later than any before) at the end of the tenant's range:
    # on the tenant alone, every new entry went in among thousands of equal keys.
    sa.Index("job_queue_leased", "tenant", "leased_until", **_where("status = 'leased'")),
    sa.Index("job_queue_blocked", "id", **_where("status = 'blocked'")),
)

# What a tenant's configuration sets of how its jobs are claimed: the most it may run at
# once across the fleet (a claim locks a capped tenant's row, see `PostgresBackend.hold_caps`),
# and the lane of its jobs of some kinds, taken in as each job is queued.
engine_tenants = sa.Table(
    "engine_tenants",
    metadata,
    sa.Column("tenant", sa.String(36), primary_key=True),
    sa.Column("max_running", sa.Integer()),
)
engine_lanes = sa.Table(
    "engine_lanes",
    metadata,
    sa.Column("tenant", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("lane", sa.SmallInteger(), nullable=False),
)

# The kinds paused, each for one tenant or for all (tenant `*`): their jobs' queue rows sit
# in their lanes plus `PAUSED`, out of the claims' sight, until resumed (see `pauses`).
engine_pauses = sa.Table(
    "engine_pauses",
    metadata,
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(36), primary_key=True),
    sa.Column("locator", sa.String(26), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# The jobs whose status is rare (waiting, failed or cancelled): a narrow row per job, so a
# tenant's failed jobs are found without reading its history, `jobs` having no index on
# its status. Each engine path that moves a job into or out of those statuses brings its
# mark along (`Backend.mark`), in the same transaction; one on a job's hot path would
# cost every job (a trigger costs SQLite some 4 µs a row), and only a parent waits.
MARKED_STATUSES = (JobStatus.WAITING, JobStatus.FAILED, JobStatus.CANCELLED)
job_marks = sa.Table(
    "job_marks",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("locator", sa.String(26), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Index("job_marks_status", "tenant", "status", "locator"),
    # The waiting parents alone, for the upkeep's sweep (`Upkeep.end_waiting`).
    sa.Index("job_marks_waiting", "id", **_where("status = 'waiting'")),
)

# A job as the engine sees it now: its `jobs` row, with the state, attempt, start and
# lease of its queue row while it has one. For the operators' views and the tests.
job_states = (
    sa.select(
        *(c for c in jobs.c if c.name not in ("status", "attempt", "started_at", "lane")),
        sa.func.coalesce(job_queue.c.status, jobs.c.status).label("status"),
        sa.func.coalesce(job_queue.c.attempt, jobs.c.attempt).label("attempt"),
        sa.func.coalesce(job_queue.c.started_at, jobs.c.started_at).label("started_at"),
        sa.func.coalesce(job_queue.c.lane, jobs.c.lane).label("lane"),
        job_queue.c.owner.label("lease_owner"),
        job_queue.c.leased_until.label("lease_expires_at"),
    )
    .select_from(jobs.outerjoin(job_queue, job_queue.c.id == jobs.c.id))
    .subquery("job_states")
)


def held(at: datetime) -> sa.Exists:
    """Whether a live worker holds the job: its queue row is leased, and the lease runs at
    wall time `at`."""
    return sa.exists().where(job_queue.c.id == jobs.c.id,
                             job_queue.c.status == JobStatus.LEASED,
                             job_queue.c.leased_until > at)


def unheld(at: datetime) -> sa.ColumnElement[bool]:
    """Jobs in the queue that no live worker holds at wall time `at`: due for a worker, or
    leased by one whose lease expired."""
    return sa.and_(jobs.c.status == JobStatus.QUEUED, ~held(at))


engine_schedules = sa.Table(
    "engine_schedules",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("locator", sa.String(26), nullable=False, unique=True),
    sa.Column("tenant", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("time_of_day", sa.String(5), nullable=False),  # "HH:MM", daily
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("payload", JSONDoc, nullable=False),
    sa.Column("next_at", UTCDateTime(), nullable=False),  # business time
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("engine_schedules_due", "next_at"),
)

engine_leaders = sa.Table(
    "engine_leaders",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

engine_clock = sa.Table(
    "engine_clock",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("offset_us", sa.BigInteger(), nullable=False),
)
