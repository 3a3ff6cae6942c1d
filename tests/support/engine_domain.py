"""A test domain whose job kinds prove the engine: record an effect, fail, fail for good, no-op.

Load it in a worker process with `POLICYJOBS_PLUGINS=tests.support.engine_domain`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from policyjobs.domain import Domain
from policyjobs.engine import (
    ClaimedJob,
    JobContext,
    JobKind,
    NewJob,
    PermanentJobError,
    TestClock,
)
from policyjobs.engine.clock import wall_now
from policyjobs.engine.jobs import Ending, JobStatus, Outcome
from policyjobs.engine.schema import MARKED_STATUSES, job_marks, job_queue, job_states, jobs
from policyjobs.engine.worker import Worker
from policyjobs.runtime import Runtime
from policyjobs.settings import Settings
from policyjobs.testing.waiting import wait_until

RECORD = "test.record"
FAIL = "test.fail"
PERMANENT = "test.permanent"
NOOP = "test.noop"

FAIL_MAX_ATTEMPTS = 3
FAIL_BACKOFF_BASE = timedelta(milliseconds=50)

_EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS test_effects ("
    "job_locator VARCHAR(26) NOT NULL, attempt INTEGER NOT NULL, worker_pid INTEGER NOT NULL, "
    "started DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION NOT NULL)"
)


def ensure_effects_table(db: sa.Engine) -> None:
    """Create `test_effects`, where `test.record` writes one row per successful attempt."""
    with db.begin() as conn:
        conn.exec_driver_sql(_EFFECTS_DDL)


def effects(db: sa.Engine) -> list[tuple[str, int, int]]:
    """Every recorded effect: (job locator, attempt, worker pid)."""
    with db.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT job_locator, attempt, worker_pid FROM test_effects "
            "ORDER BY job_locator, attempt"
        ).all()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def effect_spans(db: sa.Engine) -> dict[str, tuple[float, float]]:
    """When each recorded job's handler started and ended (wall seconds), by locator."""
    with db.connect() as conn:
        rows = conn.exec_driver_sql("SELECT job_locator, started, ended FROM test_effects").all()
    return {str(r[0]): (float(r[1]), float(r[2])) for r in rows}


def assert_one_at_a_time(spans: dict[str, tuple[float, float]], order: list[str]) -> None:
    """Each job of `order` started after the one before it ended."""
    for earlier, later in pairwise(order):
        assert spans[earlier][1] <= spans[later][0], f"{later} overlapped {earlier}"


def job_row(db: sa.Engine, locator: str) -> dict[str, Any]:
    """The job `locator` as the engine sees it now (`job_states`: its `jobs` row, with the
    lease of its queue row), with aware datetimes and decoded JSON."""
    with db.connect() as conn:
        row = conn.execute(sa.select(job_states)
                           .where(job_states.c.locator == locator)).mappings().one()
    return dict(row)


def job_rows(db: sa.Engine) -> dict[str, dict[str, Any]]:
    """Every job as the engine sees it now, by locator."""
    with db.connect() as conn:
        rows = conn.execute(sa.select(job_states)).mappings().all()
    return {str(row["locator"]): dict(row) for row in rows}


def wait_started(started_file: Path, timeout: float = 30.0) -> None:
    """Wait until a `test.record` attempt given `started_file` has started."""
    wait_until(started_file.exists, timeout=timeout, what=f"{started_file.name} to appear")


# -- a harness for engine tests ------------------------------------------------------------------

TENANT = "tenant-a"
LONG = timedelta(seconds=15)


@contextmanager
def runtime(url: str, *, domains: Sequence[Domain] = (), **overrides: Any) -> Iterator[Runtime]:
    """A runtime on `url` with this domain (and `domains`), quick timings and no workers yet."""
    settings = Settings(database_url=url, lease=timedelta(seconds=5),
                        poll=timedelta(milliseconds=50), upkeep=timedelta(milliseconds=100))
    built = Runtime.build(settings.model_copy(update=overrides), [domain, *domains])
    ensure_effects_table(built.db)
    try:
        yield built
        assert drifted_marks(built.db) == [], "job_marks no longer match the jobs"
    finally:
        built.close()


def marks(db: sa.Engine) -> dict[str, tuple[str, str]]:
    """What `job_marks` holds: each marked job's tenant and status, by locator."""
    with db.connect() as conn:
        return {locator: (tenant, status) for locator, tenant, status in conn.execute(
            sa.select(job_marks.c.locator, job_marks.c.tenant, job_marks.c.status))}


def drifted_marks(db: sa.Engine) -> list[str]:
    """The jobs whose mark does not match their status (read in one statement, so in one
    snapshot while workers run): a mark without its status, or a status without its mark."""
    matching = sa.select(jobs.c.id).where(jobs.c.id == job_marks.c.id,
                                          jobs.c.status == job_marks.c.status)
    unmarked = sa.select(job_marks.c.id).where(job_marks.c.id == jobs.c.id)
    with db.connect() as conn:
        return list(conn.execute(sa.union_all(
            sa.select(job_marks.c.locator).where(~matching.exists()),
            sa.select(jobs.c.locator).where(jobs.c.status.in_(MARKED_STATUSES),
                                            ~unmarked.exists()))).scalars())


@contextmanager
def worker(rt: Runtime, *, concurrency: int | None = None) -> Iterator[Worker]:
    """A running worker without upkeep, stopped on the way out."""
    running = Worker(rt.queue, concurrency=concurrency)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def new(kind: str, **fields: Any) -> NewJob:
    """A job of `kind` for the test tenant."""
    return NewJob(kind=kind, tenant=TENANT, **fields)


def enqueue(rt: Runtime, *jobs: NewJob) -> list[str]:
    """Enqueue `jobs` in one committed transaction; their locators."""
    with rt.db.begin() as conn:
        return rt.queue.enqueue(conn, list(jobs))


def claim_as(rt: Runtime, owner: str, *, lease: timedelta = timedelta(hours=1),
             now: datetime | None = None) -> list[ClaimedJob]:
    """Lease every due job for `owner`, a worker that will never heartbeat."""
    with rt.db.begin() as conn:
        return rt.queue.backend.claim(conn, owner=owner, limit=100, now=now or rt.clock.now(),
                                      lease_until=wall_now() + lease)


def fail_for_good(rt: Runtime, locator: str, error: str = "failed by the test") -> None:
    """End a queued job (one not yet due, which no worker will take first) failed for good,
    as its worker would whose handler raised a permanent error: leased to a worker that is
    the test, then failed through the engine's own path, the next job of its ordered key
    unblocked, its parent resolved and its kind's listeners told, as a worker's are."""
    owner, backend, now = "the test", rt.queue.backend, rt.clock.now()
    with rt.db.begin() as conn:
        row = conn.execute(sa.select(jobs).where(jobs.c.locator == locator)).one()
        leased = conn.execute(job_queue.update().where(job_queue.c.id == row.id,
                                                       job_queue.c.status == "queued")
                              .values(status="leased", owner=owner, started_at=rt.clock.now(),
                                      leased_until=wall_now() + timedelta(hours=1),
                                      attempt=row.attempt + 1)).rowcount
        assert leased == 1, f"job {locator} is not queued"
        job = ClaimedJob(row.id, locator, row.tenant, row.kind, row.reference_type,
                         row.reference_locator, row.parent_locator, row.attempt + 1,
                         row.max_attempts, row.payload, row.created_at, row.run_at)
        assert backend.fail(conn, owner=owner, now=now,
                            outcome=Outcome(job, error=error, permanent=True))
        if row.ordered_key:
            backend.unblock(conn, [(row.tenant, row.ordered_key)], now)
        told = [Ending(locator, row.tenant, row.kind, row.reference_type, row.reference_locator,
                       job.attempt, JobStatus.FAILED)] if row.kind in rt.queue.registry.listened \
            else []
        rt.queue.tell_ended(conn, backend.resolve_waiting(
            conn, [row.parent_locator] if row.parent_locator else [], now), told)


def leader(rt: Runtime) -> str | None:
    """Who holds the scheduler leadership, if anyone."""
    with rt.db.connect() as conn:
        owner = conn.execute(sa.text("SELECT owner FROM engine_leaders WHERE name = 'scheduler'"))
        found = owner.scalar()
    return None if found is None else str(found)


def clock_of(rt: Runtime) -> TestClock:
    """The runtime's test clock."""
    assert isinstance(rt.clock, TestClock)
    return rt.clock


def settle(rt: Runtime, timeout: timedelta = LONG) -> None:
    """Wait until nothing runs and nothing is due."""
    assert rt.queue.wait_idle(timeout), "the queue did not go idle"


def status(rt: Runtime, locator: str) -> str:
    """The engine status of one job."""
    return str(job_row(rt.db, locator)["status"])


# -- the handlers -------------------------------------------------------------------------------


def _sleep_for(context: JobContext) -> float:
    """The payload's `sleep`, applied only to the first `sleep_attempts` attempts if given."""
    payload = context.job.payload
    seconds = float(payload.get("sleep", 0))
    limit = payload.get("sleep_attempts")
    if limit is not None and context.job.attempt > int(limit):
        return 0.0
    return seconds


def record(context: JobContext) -> dict[str, Any]:
    """Sleep if asked, then write exactly one effect row in the handler's own transaction.

    The payload may name a `started_file`, created as the attempt starts, so a test
    knows the handler is running (a leased job may not have started yet).
    """
    started = time.time()
    started_file = context.job.payload.get("started_file")
    if started_file:
        Path(started_file).touch()
    seconds = _sleep_for(context)
    if seconds > 0:
        time.sleep(seconds)
    with context.db.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO test_effects (job_locator, attempt, worker_pid, started, ended) "
                    "VALUES (:locator, :attempt, :pid, :started, :ended)"),
            {"locator": context.job.locator, "attempt": context.job.attempt, "pid": os.getpid(),
             "started": started, "ended": time.time()},
        )
    return {"pid": os.getpid(), "attempt": context.job.attempt}


def fail(context: JobContext) -> None:
    """Always fail, with the payload's message."""
    raise ValueError(str(context.job.payload.get("message", "failed")))


def permanent(context: JobContext) -> None:
    """Fail for good, so the engine does not retry; past the payload's `fail_attempts`
    attempts, if given, succeed (as a job an operator retries once its cause is mended)."""
    limit = context.job.payload.get("fail_attempts")
    if limit is not None and context.job.attempt > int(limit):
        return
    raise PermanentJobError(str(context.job.payload.get("message", "permanent failure")))


def noop(context: JobContext) -> Any:
    """Return the payload as the result."""
    return context.job.payload


domain = Domain(
    name="engine-tests",
    kinds=(
        JobKind(RECORD, record),
        JobKind(FAIL, fail, max_attempts=FAIL_MAX_ATTEMPTS, backoff_base=FAIL_BACKOFF_BASE),
        JobKind(PERMANENT, permanent),
        JobKind(NOOP, noop),
    ),
)
