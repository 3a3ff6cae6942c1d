"""The SQLite backend: one writer at a time, batches as `executemany`, lists as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from policyjobs.engine.backend import Backend, json_text
from policyjobs.engine.jobs import ClaimedJob, NewJob, Outcome

# The text form SQLAlchemy's SQLite DateTime stores, so ORM and raw SQL read each other.
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _parse_time(text: str) -> datetime:
    # `fromisoformat` reads this form too, some twenty times faster than `strptime`: the
    # claim reads two times a job.
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class SQLiteBackend(Backend):
    """Relies on `BEGIN IMMEDIATE` (see `policyjobs.store.database`) for exclusive claims."""

    dialect = "sqlite"

    def time(self, value: datetime) -> Any:
        """UTC text that sorts in time order."""
        return value.astimezone(UTC).strftime(_TIME_FORMAT)

    def from_time(self, value: Any) -> datetime:
        """The text form back as an aware datetime."""
        return _parse_time(value)

    def claimed(self, row: Sequence[Any]) -> ClaimedJob:
        """Decode the JSON payload and the text times."""
        (job_id, locator, tenant, kind, ref_type, ref_locator, parent, attempt, max_attempts,
         payload, created_at, run_at, ordered_key) = row
        return ClaimedJob(
            job_id, locator, tenant, kind, ref_type, ref_locator, parent, attempt, max_attempts,
            orjson.loads(payload), _parse_time(created_at), _parse_time(run_at), ordered_key,
        )

    def insert(self, conn: sa.Connection, jobs: Sequence[NewJob], max_attempts: Sequence[int],
               statuses: Sequence[str], now: datetime) -> None:
        """One prepared insert, executed for each job."""
        stamp = self.time(now)
        self.run_many(conn, "insert_job", [
            {
                "locator": j.locator, "tenant": j.tenant, "kind": j.kind,
                "reference_type": j.reference_type, "reference_locator": j.reference_locator,
                "parent_locator": j.parent_locator, "status": status,
                "run_at": self.time(j.run_at) if j.run_at else stamp,
                "max_attempts": attempts, "payload": json_text(j.payload),
                "dedupe_key": j.dedupe_key, "ordered_key": j.ordered_key,
                "created_by": j.created_by, "now": stamp,
            }
            for j, attempts, status in zip(jobs, max_attempts, statuses, strict=True)
        ])

    def complete(self, conn: sa.Connection, *, owner: str, outcomes: Sequence[Outcome],
                 waiting: set[str], now: datetime) -> None:
        """One `UPDATE … FROM json_each(…)` for the whole batch."""
        batch = orjson.dumps([
            {"id": o.job.id, "attempt": o.job.attempt, "result": orjson.Fragment(o.result),
             "waiting": o.job.locator in waiting}
            for o in outcomes
        ]).decode()
        self.run(conn, "complete", {"owner": owner, "now": self.time(now), "batch": batch})

    def run_many(self, conn: sa.Connection, name: str, params: list[dict[str, Any]]) -> None:
        """Execute the named statement once per parameter set."""
        if params:
            conn.exec_driver_sql(self.sql[name], params)
