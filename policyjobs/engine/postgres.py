"""The PostgreSQL backend: batches travel as arrays, one statement per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa

from policyjobs.engine.backend import Backend
from policyjobs.engine.fairness import Group, Load, Pick, Rotation
from policyjobs.engine.jobs import ClaimedJob, NewJob

CHANNEL = "policyjobs_jobs"
CHUNK = 1_000  # jobs an insert statement carries
_BITMAPS_OFF = "policyjobs_bitmap_scans_off"  # set on a session that claims alone


class PostgresBackend(Backend):
    """Claims with `FOR UPDATE SKIP LOCKED`; wakes workers with `NOTIFY`."""

    dialect = "postgresql"
    claims_alone = True  # the due work is read, then leased in one statement
    ends_parents_apart = True  # a child's end takes no lock on its parent's row

    def day(self, moment: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The UTC date of a time column."""
        return sa.cast(sa.func.timezone("UTC", moment), sa.Date)

    def time(self, value: datetime) -> Any:
        """psycopg adapts aware datetimes to timestamptz."""
        return value

    def claimed(self, row: Sequence[Any]) -> ClaimedJob:
        """jsonb and timestamptz arrive already decoded."""
        return ClaimedJob._make(row)

    def claim(self, conn: sa.Connection, *, owner: str, limit: int, now: datetime,
              lease_until: datetime, rotation: Rotation | None = None) -> list[ClaimedJob]:
        """Lease due jobs, walking the fair index in order (see `plan_claims`)."""
        self.plan_claims(conn)
        return super().claim(conn, owner=owner, limit=limit, now=now, lease_until=lease_until,
                             rotation=rotation)

    def lease(self, conn: sa.Connection, *, owner: str, picks: Sequence[Pick], now: datetime,
              lease_until: datetime) -> list[ClaimedJob]:
        """Every pick in one statement, each walking its tenant's lane with `SKIP LOCKED`."""
        batch = orjson.dumps([{"tenant": p.tenant, "lane": p.lane, "count": p.count}
                              for p in picks]).decode()
        return [ClaimedJob._make(row) for row in self.run(conn, "lease", {
            "owner": owner, "picks": batch, "now": now, "lease_until": lease_until,
        })]

    def lease_alone(self, conn: sa.Connection, *, owner: str, pick: Pick, now: datetime,
                    lease_until: datetime) -> list[ClaimedJob] | None:
        """The check and the lease in one statement: one round trip. Its rows lead with
        whether the group was alone, and it returns one row with no job when it leased
        none."""
        rows = self.run(conn, "lease_alone", {
            "owner": owner, "tenant": pick.tenant, "lane": pick.lane, "count": pick.count,
            "now": now, "lease_until": lease_until,
        }).all()
        if not rows[0][0]:
            return None
        return [ClaimedJob._make(row[1:]) for row in rows if row[1] is not None]

    def hold_caps(self, conn: sa.Connection, groups: list[Group], loads: dict[str, Load],
                  rotation: Rotation) -> tuple[list[Group], dict[str, Load]]:
        """Claims run at once on PostgreSQL, each counting running jobs as of its snapshot,
        so a capped tenant is claimed for only by the claim that holds its cap row, and
        its running jobs are counted again after the row is held. A claim in autocommit
        cannot hold a row past its statement: it leaves capped tenants to the worker's next
        claim, which `rotation.capped` runs in a transaction."""
        capped = sorted({g.tenant for g in groups if loads[g.tenant].cap is not None})
        rotation.capped = bool(capped)
        if not capped:
            return groups, loads
        held: set[str] = set()
        if not self._autocommit(conn):
            tenants = self.locators(capped)
            held = {str(row[0]) for row in self.run(conn, "hold_caps", {"tenants": tenants})}
            running = {str(tenant): int(count) for tenant, count in
                       self.run(conn, "running", {"tenants": self.locators(held)})}
            loads = loads | {t: replace(loads[t], running=int(running.get(t, 0))) for t in held}
        kept = [g for g in groups if loads[g.tenant].cap is None or g.tenant in held]
        return kept, loads

    @staticmethod
    def _autocommit(conn: sa.Connection) -> bool:
        return conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"

    def plan_claims(self, conn: sa.Connection) -> None:
        """Turn bitmap scans off for claims on `conn`.

        A fresh store's statistics are those of its empty tables (its indexes were built
        on them), so after a burst the planner still thinks few rows are queued, and would
        bitmap-scan and sort every due row to pick the first few hundred, on every claim.
        The setting holds for the transaction, or for the whole session of a connection
        that claims alone (which the worker never gives back to the pool; `conn.info` goes
        with the session, so a replaced connection is set again).
        """
        if not self._autocommit(conn):
            conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        elif not conn.info.get(_BITMAPS_OFF):
            conn.exec_driver_sql("SET enable_bitmapscan = off")
            conn.info[_BITMAPS_OFF] = True

    def insert(self, conn: sa.Connection, jobs: Sequence[NewJob], max_attempts: Sequence[int],
               lanes: Sequence[int], statuses: Sequence[str], now: datetime) -> int:
        """One `INSERT … SELECT FROM jsonb_to_recordset(…)` per `CHUNK` jobs. A larger
        batch is sent in pipeline mode: each chunk goes out without waiting for the one
        before, so PostgreSQL inserts one while the next is encoded and sent. (psycopg's
        own pipelined executemany prepares every statement and ran a tenth slower.)"""
        rows = list(zip(jobs, max_attempts, lanes, statuses, strict=True))
        sql = self.sql["insert_deduplicated_jobs" if any(j.dedupe_key for j in jobs)
                       else "insert_jobs"]
        if len(rows) <= CHUNK:
            return int(conn.exec_driver_sql(sql, {"now": now, "batch": _batch(rows)}).rowcount)
        driver = conn.connection.driver_connection  # SQLAlchemy's results would not wait
        assert isinstance(driver, psycopg.Connection)
        try:
            with driver.pipeline():
                sent = []
                for start in range(0, len(rows), CHUNK):
                    cursor = driver.cursor()
                    cursor.execute(sql, {"now": now, "batch": _batch(rows[start:start + CHUNK])})
                    sent.append(cursor)
        except psycopg.Error as error:  # as SQLAlchemy raises it, the connection let go if lost
            if driver.broken:
                conn.invalidate(error)
            raise sa.exc.DBAPIError.instance(sql, None, error, psycopg.Error,
                                             connection_invalidated=driver.broken,
                                             dialect=conn.dialect) from error
        return sum(cursor.rowcount for cursor in sent)

    def lock_ordered_keys(self, conn: sa.Connection, keys: str) -> None:
        """Transaction-scoped advisory locks, one per key, taken in one order."""
        self.run(conn, "lock_ordered_keys", {"keys": keys}).all()

    def notify(self, conn: sa.Connection) -> None:
        """`pg_notify` is delivered when the transaction commits, and only then."""
        self.run(conn, "notify", {})

    def lock_waiting(self, conn: sa.Connection, locators: list[str]) -> None:
        """Row locks in id order serialize children ending at once, without deadlock."""
        self.run(conn, "lock_waiting", {"locators": self.locators(locators)}).all()


def _batch(rows: Sequence[tuple[NewJob, int, int, str]]) -> str:
    """Jobs to insert, with their attempts, lanes and first statuses, as one JSON array of
    objects. A column that is null is left out (`jsonb_to_recordset` reads an absent key as
    null): most jobs have no parent, run-at or keys, and PostgreSQL parses each byte."""
    batch = []
    for job, attempts, lane, status in rows:
        row = {"locator": job.locator, "tenant": job.tenant, "kind": job.kind,
               "status": status, "max_attempts": attempts, "lane": lane,
               "payload": job.payload, "created_by": job.created_by}
        for name in _NULLABLE:
            if (value := getattr(job, name)) is not None:
                row[name] = value
        batch.append(row)
    return orjson.dumps(batch).decode()


_NULLABLE = ("reference_type", "reference_locator", "parent_locator", "run_at", "dedupe_key",
             "ordered_key")
