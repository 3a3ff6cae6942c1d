"""The PostgreSQL backend: batches travel as arrays, one statement per batch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.backend import Backend, json_text
from policyjobs.engine.jobs import ClaimedJob, NewJob, Outcome

CHANNEL = "policyjobs_jobs"


class PostgresBackend(Backend):
    """Claims with `FOR UPDATE SKIP LOCKED`; wakes workers with `NOTIFY`."""

    dialect = "postgresql"

    def time(self, value: datetime) -> Any:
        """psycopg adapts aware datetimes to timestamptz."""
        return value

    def locators(self, values: Iterable[str]) -> Any:
        """psycopg adapts lists to arrays."""
        return list(values)

    def claimed(self, row: Sequence[Any]) -> ClaimedJob:
        """jsonb and timestamptz arrive already decoded."""
        return ClaimedJob(*row)

    def insert(self, conn: sa.Connection, jobs: Sequence[NewJob], max_attempts: Sequence[int],
               now: datetime) -> None:
        """One `INSERT … SELECT FROM unnest(…)` for the whole batch."""
        self.run(conn, "insert_jobs", {
            "now": now,
            "locator": [j.locator for j in jobs],
            "tenant": [j.tenant for j in jobs],
            "kind": [j.kind for j in jobs],
            "reference_type": [j.reference_type for j in jobs],
            "reference_locator": [j.reference_locator for j in jobs],
            "parent_locator": [j.parent_locator for j in jobs],
            "run_at": [j.run_at or now for j in jobs],
            "max_attempts": list(max_attempts),
            "payload": [json_text(j.payload) for j in jobs],
            "dedupe_key": [j.dedupe_key for j in jobs],
            "created_by": [j.created_by for j in jobs],
        })

    def notify(self, conn: sa.Connection) -> None:
        """`pg_notify` is delivered when the transaction commits, and only then."""
        self.run(conn, "notify", {})

    def complete(self, conn: sa.Connection, *, owner: str, outcomes: Sequence[Outcome],
                 waiting: set[str], now: datetime) -> None:
        """One `UPDATE … FROM unnest(…)` for the whole batch."""
        self.run(conn, "complete", {
            "owner": owner, "now": now,
            "ids": [o.job.id for o in outcomes],
            "attempts": [o.job.attempt for o in outcomes],
            "results": [o.result for o in outcomes],
            "waiting": [o.job.locator in waiting for o in outcomes],
        })

    def lock_waiting(self, conn: sa.Connection, locators: list[str]) -> None:
        """Row locks in id order serialize children ending at once, without deadlock."""
        self.run(conn, "lock_waiting", {"locators": locators}).all()
