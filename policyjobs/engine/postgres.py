"""The PostgreSQL backend: batches travel as arrays, one statement per batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from policyjobs.engine.backend import Backend
from policyjobs.engine.jobs import ClaimedJob, NewJob

CHANNEL = "policyjobs_jobs"


class PostgresBackend(Backend):
    """Claims with `FOR UPDATE SKIP LOCKED`; wakes workers with `NOTIFY`."""

    dialect = "postgresql"

    def time(self, value: datetime) -> Any:
        """psycopg adapts aware datetimes to timestamptz."""
        return value

    def claimed(self, row: Sequence[Any]) -> ClaimedJob:
        """jsonb and timestamptz arrive already decoded."""
        return ClaimedJob._make(row)

    def claim(self, conn: sa.Connection, *, owner: str, limit: int, now: datetime,
              lease_until: datetime) -> list[ClaimedJob]:
        """Lease due jobs, walking the due index in order.

        A queue that grew faster than its statistics (a burst into a young table) looks
        tiny to the planner, which then bitmap-scans and sorts every due row to pick the
        first few hundred, on every claim. Bitmap scans are off for the claim's
        transaction alone.
        """
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        return super().claim(conn, owner=owner, limit=limit, now=now, lease_until=lease_until)

    def insert(self, conn: sa.Connection, jobs: Sequence[NewJob], max_attempts: Sequence[int],
               statuses: Sequence[str], now: datetime) -> None:
        """One `INSERT … SELECT FROM jsonb_to_recordset(…)` for the whole batch."""
        batch = orjson.dumps([
            {"locator": j.locator, "tenant": j.tenant, "kind": j.kind,
             "reference_type": j.reference_type, "reference_locator": j.reference_locator,
             "parent_locator": j.parent_locator, "status": status, "run_at": j.run_at,
             "max_attempts": attempts, "payload": j.payload, "dedupe_key": j.dedupe_key,
             "ordered_key": j.ordered_key, "created_by": j.created_by}
            for j, attempts, status in zip(jobs, max_attempts, statuses, strict=True)
        ]).decode()
        self.run(conn, "insert_jobs", {"now": now, "batch": batch})

    def lock_ordered_keys(self, conn: sa.Connection, keys: str) -> None:
        """Transaction-scoped advisory locks, one per key, taken in one order."""
        self.run(conn, "lock_ordered_keys", {"keys": keys}).all()

    def notify(self, conn: sa.Connection) -> None:
        """`pg_notify` is delivered when the transaction commits, and only then."""
        self.run(conn, "notify", {})

    def lock_waiting(self, conn: sa.Connection, locators: list[str]) -> None:
        """Row locks in id order serialize children ending at once, without deadlock."""
        self.run(conn, "lock_waiting", {"locators": self.locators(locators)}).all()
