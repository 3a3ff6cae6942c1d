"""A kind's end listeners are told of each of its jobs that ends, once, in the
transaction that ends it: on completion, on a last failure, when a parent's children have
all ended, when the rescuer fails a job whose worker died on its last attempt, and when
one is cancelled."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from policyjobs.domain import Domain
from policyjobs.engine import Ending, EndListener
from policyjobs.engine.upkeep import Upkeep
from policyjobs.testing.waiting import wait_until
from tests.support.engine_domain import (
    FAIL,
    NOOP,
    PERMANENT,
    RECORD,
    claim_as,
    enqueue,
    new,
    runtime,
    settle,
    status,
    worker,
)

_TABLE = ("CREATE TABLE IF NOT EXISTS test_endings "
          "(locator TEXT, kind TEXT, status TEXT, attempt INT)")


def tell(queue: Any, conn: sa.Connection, endings: Sequence[Ending]) -> None:
    """Write each ending in the transaction that ended its job."""
    insert = sa.text("INSERT INTO test_endings VALUES (:locator, :kind, :status, :attempt)")
    for e in endings:
        conn.execute(insert, {"locator": e.locator, "kind": e.kind, "status": e.status,
                              "attempt": e.attempt})


listening = Domain(name="listening", job_listeners=[
    EndListener(frozenset({RECORD, FAIL, PERMANENT}), tell)])


def endings(db: sa.Engine) -> list[tuple[str, str, str, int]]:
    with db.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(
            "SELECT locator, kind, status, attempt FROM test_endings ORDER BY locator"))]


def test_listeners_hear_of_each_end_once_and_of_no_other_kind(database_url: str) -> None:
    with runtime(database_url, domains=[listening]) as rt:
        with rt.db.begin() as conn:
            conn.execute(sa.text(_TABLE))
        parent = new(RECORD)
        done, failed, retried, ignored, _, _ = enqueue(
            rt, new(RECORD), new(PERMANENT), new(FAIL), new(NOOP), parent,
            new(NOOP, parent_locator=parent.locator))
        with worker(rt):
            wait_until(lambda: status(rt, retried) == "failed", timeout=15,
                       what="the failing job's last attempt")
            settle(rt)
        assert sorted(endings(rt.db)) == sorted([
            (done, RECORD, "finished", 1), (failed, PERMANENT, "failed", 1),
            (retried, FAIL, "failed", 3), (parent.locator, RECORD, "finished", 1)])
        assert ignored not in {e[0] for e in endings(rt.db)}


def test_a_job_the_rescuer_fails_is_told_too(database_url: str) -> None:
    with runtime(database_url, domains=[listening], lease=timedelta(milliseconds=300)) as rt:
        with rt.db.begin() as conn:
            conn.execute(sa.text(_TABLE))
        [dead] = enqueue(rt, new(RECORD, max_attempts=1))
        claim_as(rt, "ghost", lease=timedelta(milliseconds=300))
        time.sleep(0.4)
        upkeep = Upkeep(rt.queue, name="upkeep-under-test")
        upkeep.tick()
        assert endings(rt.db) == [(dead, RECORD, "failed", 1)]


def test_a_job_cancelled_before_it_ran_is_told_as_cancelled(database_url: str) -> None:
    with runtime(database_url, domains=[listening]) as rt:
        with rt.db.begin() as conn:
            conn.execute(sa.text(_TABLE))
        later = rt.clock.now() + timedelta(hours=1)
        made = enqueue(rt, new(RECORD, run_at=later), new(PERMANENT, run_at=later),
                       new(NOOP, run_at=later))
        with rt.db.begin() as conn:
            assert sorted(rt.queue.cancel(conn, made)) == sorted(made)
        recorded, permanent, unheard = made
        assert sorted(endings(rt.db)) == sorted([(recorded, RECORD, "cancelled", 0),
                                                 (permanent, PERMANENT, "cancelled", 0)])
        assert unheard not in {e[0] for e in endings(rt.db)}
