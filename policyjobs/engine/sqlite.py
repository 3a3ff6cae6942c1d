"""The SQLite backend: one writer at a time, batches as `executemany`, lists as JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from policyjobs.engine.backend import Backend, Completed, Rows, json_text
from policyjobs.engine.fairness import Pick
from policyjobs.engine.jobs import ClaimedJob, JobStatus, NewJob, Outcome


def _parse_time(text: str) -> datetime:
    # `fromisoformat` reads this form too, some twenty times faster than `strptime`, and
    # given the offset it attaches `UTC` itself, six times faster than `.replace` would:
    # the claim reads two times a job, while it holds the write lock.
    return datetime.fromisoformat(text + "+00:00")


class SQLiteBackend(Backend):
    """Relies on `BEGIN IMMEDIATE` (see `policyjobs.store.database`) for exclusive claims."""

    dialect = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        # The driver runs one statement at a time: a query of several is split once.
        self._statements = {name: [part for part in re.split(r";\s*\n", text) if part.strip()]
                            for name, text in self.sql.items()}

    def run(self, conn: sa.Connection, name: str, params: Mapping[str, Any]) -> Rows:
        """Execute the named query's statements in order; the last one's result."""
        *first, last = self._statements[name]
        for statement in first:
            conn.exec_driver_sql(statement, dict(params))
        return conn.exec_driver_sql(last, dict(params))

    def day(self, moment: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The UTC date of a time column: SQLite keeps UTC times as text that starts with
        the date."""
        return sa.func.substr(moment, 1, 10, type_=sa.String)

    def time(self, value: datetime) -> Any:
        """UTC text that sorts in time order: the form SQLAlchemy's SQLite DateTime stores
        (`0260-09-07 05:03:50.021024`), so ORM and raw SQL read each other. Not `strftime`,
        whose `%Y` leaves years before 1000 unpadded."""
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def from_time(self, value: Any) -> datetime:
        """The text form back as an aware datetime."""
        return _parse_time(value)

    def claimed(self, row: Sequence[Any]) -> ClaimedJob:
        """Decode the JSON payload and the text times."""
        (job_id, locator, tenant, kind, ref_type, ref_locator, parent, attempt, max_attempts,
         payload, created_at, run_at, ordered_key, lane) = row
        return ClaimedJob(
            job_id, locator, tenant, kind, ref_type, ref_locator, parent, attempt, max_attempts,
            orjson.loads(payload), _parse_time(created_at), _parse_time(run_at), ordered_key,
            lane,
        )

    def lease(self, conn: sa.Connection, *, owner: str, picks: Sequence[Pick], now: datetime,
              lease_until: datetime) -> list[ClaimedJob]:
        """Lease each pick's queue rows, then read their jobs."""
        leased: dict[int, tuple[int, int]] = {}
        for pick in picks:
            leased.update(self._lease(conn, "lease", owner, pick, now, lease_until))
        return self._jobs(conn, leased)

    def lease_alone(self, conn: sa.Connection, *, owner: str, pick: Pick, now: datetime,
                    lease_until: datetime) -> list[ClaimedJob] | None:
        """Lease the group's queue rows if it is still alone, then read their jobs; None if
        it leased none, whether or not the group was alone (a read of the due work costs
        SQLite no round trip)."""
        return self._jobs(conn, self._lease(conn, "lease_alone", owner, pick, now,
                                            lease_until)) or None

    def _lease(self, conn: sa.Connection, name: str, owner: str, pick: Pick, now: datetime,
               lease_until: datetime) -> dict[int, tuple[int, int]]:
        rows = self.run(conn, name, {
            "owner": owner, "now": self.time(now), "lease_until": self.time(lease_until),
            "tenant": pick.tenant, "lane": pick.lane, "count": pick.count})
        return {job_id: (attempt, lane) for job_id, attempt, lane in rows}

    def _jobs(self, conn: sa.Connection, leased: dict[int, tuple[int, int]]) -> list[ClaimedJob]:
        """The jobs of the queue rows just leased, given their (attempt, lane) by id."""
        if not leased:
            return []
        jobs = self.run(conn, "claimed", {"ids": json_text(list(leased))}).all()
        return [self.claimed((*row[:7], leased[row[0]][0], *row[7:], leased[row[0]][1]))
                for row in jobs]

    def complete(self, conn: sa.Connection, *, owner: str, outcomes: Sequence[Outcome],
                 now: datetime, report: bool = False) -> Completed:
        """Record the jobs, then take their queue rows away (every id recorded is returned,
        so those that finished are reported whether asked for or not)."""
        rows = self.run(conn, "complete", {"owner": owner, "now": self.time(now),
                                           "batch": self.outcomes(outcomes)}).all()
        if rows:
            self.run(conn, "dequeue", {"ids": json_text([row[0] for row in rows])})
        completed = Completed({str(row[1]) for row in rows if row[1] is not None},
                              {int(row[0]) for row in rows if row[1] is None})
        self.mark(conn, completed.waiting)
        return completed

    def insert(self, conn: sa.Connection, jobs: Sequence[NewJob], max_attempts: Sequence[int],
               lanes: Sequence[int], statuses: Sequence[str], now: datetime) -> int:
        """One prepared insert, executed for each job, then the queue rows of those made."""
        stamp = self.time(now)
        self.run_many(conn, "insert_job", [
            {
                "locator": j.locator, "tenant": j.tenant, "kind": j.kind,
                "reference_type": j.reference_type, "reference_locator": j.reference_locator,
                "parent_locator": j.parent_locator, "status": status,
                "run_at": self.time(j.run_at) if j.run_at else stamp,
                "max_attempts": attempts, "payload": json_text(j.payload),
                "dedupe_key": j.dedupe_key, "ordered_key": j.ordered_key, "lane": lane,
                "created_by": j.created_by, "now": stamp,
            }
            for j, attempts, lane, status in zip(jobs, max_attempts, lanes, statuses,
                                                 strict=True)
        ])
        queued = self.run(conn, "queue_new", {"locators": self.locators(j.locator for j in jobs)})
        return int(queued.rowcount)

    def unblock_stalled(self, conn: sa.Connection, now: datetime) -> list[str]:
        """Unblock the jobs, then bring their queue rows along."""
        unblocked = super().unblock_stalled(conn, now)
        if unblocked:
            self.run(conn, "unblocked", {})
        return unblocked

    def rescue(self, conn: sa.Connection, *, now: datetime,
               wall_now: datetime) -> list[tuple[str, str, str, str | None, str]]:
        """Find the expired queue rows, rescue their jobs, then bring the rows along."""
        ids = self.run(conn, "expired", {"wall_now": self.time(wall_now)}).scalar_one()
        params = {"ids": ids, "now": self.time(now), "at": now.isoformat()}
        rows = self.run(conn, "rescue", params).all()
        self.run(conn, "rescued", params)
        self.mark(conn, (str(r[0]) for r in rows if r[2] == JobStatus.FAILED))
        return [(str(r[0]), str(r[1]), str(r[2]), r[3], str(r[4])) for r in rows]

    def prune(self, conn: sa.Connection, before: datetime) -> int:
        """Delete the jobs, then their marks."""
        gone = self.run(conn, "prune", {"before": self.time(before)}).scalars().all()
        if gone:
            self.run(conn, "unmark", {"ids": json_text(list(gone))})
        return len(gone)

    def run_many(self, conn: sa.Connection, name: str, params: list[dict[str, Any]]) -> None:
        """Execute the named statement once per parameter set."""
        if params:
            conn.exec_driver_sql(self.sql[name], params)
