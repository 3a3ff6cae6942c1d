"""The one clock: business time for schedules, wall time for leases.

A service started with the test clock keeps an offset from wall time in the
store, so every process of it agrees on "now", and moving it makes due jobs run.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from policyjobs.engine.schema import READ_ONLY, engine_clock


def wall_now() -> datetime:
    """The machine's real time, in UTC; leases and heartbeats use it."""
    return datetime.now(UTC)


class Clock(Protocol):
    """Business time: when jobs become due and what `createdAt` says."""

    def now(self) -> datetime: ...


class SystemClock:
    """Business time is wall time."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return wall_now()


_OFFSET = sa.select(engine_clock.c.offset_us).where(engine_clock.c.id == 1)
# How far past the later of its own now and the wall clock the test clock moves in one step.
# A daily schedule makes a job for every occurrence the clock passes, caught up in order: a
# step of ten years makes some 3,650 runs a schedule; one to the year 2900 would make some
# 320,000 for each tenant (30,000 in its first 10 s), faster than any worker runs them.
MOST_AHEAD = timedelta(days=3653)


class ClockTooFar(ValueError):
    """A move of the test clock past `MOST_AHEAD`."""


class TestClock:
    """Business time is wall time plus an offset kept in the store."""

    __test__ = False  # not a pytest test class
    _TTL_SECONDS = 0.05

    def __init__(self, db: sa.Engine) -> None:
        self._db = db
        # Reading the offset takes one round trip: on PostgreSQL the statement runs on its
        # own (autocommit), with no BEGIN and ROLLBACK around it; on SQLite its transaction
        # does not take the write lock.
        autocommit = {"isolation_level": "AUTOCOMMIT"} if db.dialect.name == "postgresql" else {}
        self._reads = db.execution_options(**{READ_ONLY: True}, **autocommit)
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._offset = timedelta(0)
        self._read_at = float("-inf")
        self._moves = 0  # how often `set` moved it here: a re-read begun before is stale

    def now(self) -> datetime:
        """The test clock's current time, re-read from the store at most every 50 ms.

        One thread re-reads it at a time; the others meanwhile go on with the offset read
        last, which the time-to-live already allows them, unless none was read yet.
        """
        if time.monotonic() - self._read_at > self._TTL_SECONDS and self._refreshing.acquire(
                blocking=self._read_at == float("-inf")):
            try:
                if time.monotonic() - self._read_at > self._TTL_SECONDS:
                    self.refresh()
            finally:
                self._refreshing.release()
        return wall_now() + self._offset

    def refresh(self) -> None:
        """Re-read the offset that any process may have moved. A read that `set` overtook
        is dropped: it may hold the offset from before the move."""
        with self._lock:
            moves = self._moves
        with self._reads.connect() as conn:
            micros = conn.execute(_OFFSET).scalar()
        with self._lock:
            if self._moves == moves:
                self._offset = timedelta(microseconds=micros or 0)
                self._read_at = time.monotonic()

    def set(self, when: datetime) -> datetime:
        """Move business time to `when` (forwards or back) for every process; `ClockTooFar`
        past ten years (`MOST_AHEAD`) beyond the later of its now and the wall clock's."""
        try:
            limit = max(self.now(), wall_now()) + MOST_AHEAD
        except OverflowError:  # within ten years of the calendar's end: no limit is nearer
            limit = datetime.max.replace(tzinfo=UTC)
        if when > limit:
            raise ClockTooFar(
                f"{when.isoformat()} is more than ten years past the clock's now: move it at "
                "most ten years at a time (every daily schedule makes a job for each day "
                "the clock passes)")
        offset = when - wall_now()
        micros = offset // timedelta(microseconds=1)
        with self._db.begin() as conn:
            updated = conn.execute(
                engine_clock.update().where(engine_clock.c.id == 1).values(offset_us=micros)
            ).rowcount
            if not updated:
                conn.execute(engine_clock.insert().values(id=1, offset_us=micros))
        with self._lock:
            self._offset = timedelta(microseconds=micros)
            self._read_at = time.monotonic()
            self._moves += 1
        return wall_now() + self._offset
