"""A test domain whose job kinds prove the engine: record an effect, fail, fail for good, no-op.

Load it in a worker process with `POLICYJOBS_PLUGINS=tests.support.engine_domain`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from policyjobs.domain import Domain
from policyjobs.engine import JobContext, JobKind, PermanentJobError
from policyjobs.engine.schema import jobs

RECORD = "test.record"
FAIL = "test.fail"
PERMANENT = "test.permanent"
NOOP = "test.noop"

FAIL_MAX_ATTEMPTS = 3
FAIL_BACKOFF_BASE = timedelta(milliseconds=50)

_EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS test_effects ("
    "job_locator VARCHAR(26) NOT NULL, attempt INTEGER NOT NULL, worker_pid INTEGER NOT NULL)"
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


def job_row(db: sa.Engine, locator: str) -> dict[str, Any]:
    """The `jobs` row of `locator`, with aware datetimes and decoded JSON."""
    with db.connect() as conn:
        row = conn.execute(sa.select(jobs).where(jobs.c.locator == locator)).mappings().one()
    return dict(row)


def job_rows(db: sa.Engine) -> dict[str, dict[str, Any]]:
    """Every `jobs` row, by locator."""
    with db.connect() as conn:
        rows = conn.execute(sa.select(jobs)).mappings().all()
    return {str(row["locator"]): dict(row) for row in rows}


def wait_until(predicate: Callable[[], bool], *, timeout: float = 15.0,
               interval: float = 0.02, what: str = "condition") -> None:
    """Poll `predicate` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _sleep_for(context: JobContext) -> float:
    """The payload's `sleep`, applied only to the first `sleep_attempts` attempts if given."""
    payload = context.job.payload
    seconds = float(payload.get("sleep", 0))
    limit = payload.get("sleep_attempts")
    if limit is not None and context.job.attempt > int(limit):
        return 0.0
    return seconds


def record(context: JobContext) -> dict[str, Any]:
    """Sleep if asked, then write exactly one effect row in the handler's own transaction."""
    seconds = _sleep_for(context)
    if seconds > 0:
        time.sleep(seconds)
    with context.db.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO test_effects (job_locator, attempt, worker_pid) "
                    "VALUES (:locator, :attempt, :pid)"),
            {"locator": context.job.locator, "attempt": context.job.attempt, "pid": os.getpid()},
        )
    return {"pid": os.getpid(), "attempt": context.job.attempt}


def fail(context: JobContext) -> None:
    """Always fail, with the payload's message."""
    raise ValueError(str(context.job.payload.get("message", "failed")))


def permanent(context: JobContext) -> None:
    """Fail for good, so the engine does not retry."""
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
