"""Ordered keys on real stores: jobs that share a key run one at a time, in creation order."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from policyjobs.engine import NewJob
from policyjobs.engine.upkeep import Upkeep
from policyjobs.runtime import Runtime
from policyjobs.testing.waiting import wait_until
from tests.support.engine_domain import (
    FAIL,
    NOOP,
    PERMANENT,
    RECORD,
    TENANT,
    assert_one_at_a_time,
    effect_spans,
    enqueue,
    job_rows,
    new,
    runtime,
    settle,
    status,
    worker,
)
from tests.support.worker_process import worker_processes


def test_jobs_of_one_key_run_one_at_a_time_in_creation_order(database_url: str) -> None:
    with runtime(database_url) as rt:
        keyed = [new(RECORD, payload={"sleep": 0.02}, ordered_key="account:A") for _ in range(6)]
        free = [new(RECORD) for _ in range(4)]
        locators = enqueue(rt, *keyed[:3], *free, *keyed[3:])
        rows = job_rows(rt.db)
        assert [rows[j.locator]["status"] for j in keyed] == ["queued"] + ["blocked"] * 5
        assert {rows[j.locator]["status"] for j in free} == {"queued"}
        with worker(rt, concurrency=8):
            settle(rt)
        assert {row["status"] for row in job_rows(rt.db).values()} == {"finished"}
        spans = effect_spans(rt.db)
        assert set(spans) == set(locators)
        assert_one_at_a_time(spans, [j.locator for j in keyed])


def test_keys_are_per_tenant_and_a_later_enqueue_waits_for_the_earlier(database_url: str) -> None:
    with runtime(database_url) as rt:
        [first] = enqueue(rt, new(RECORD, payload={"sleep": 0.05}, ordered_key="k"))
        [other_tenant] = enqueue(rt, NewJob(kind=RECORD, tenant="tenant-b", ordered_key="k"))
        [second] = enqueue(rt, new(RECORD, ordered_key="k"))
        assert (status(rt, first), status(rt, other_tenant), status(rt, second)) == (
            "queued", "queued", "blocked")
        with worker(rt):
            settle(rt)
        assert_one_at_a_time(effect_spans(rt.db), [first, second])


def test_a_job_that_fails_for_good_lets_the_next_one_run(database_url: str) -> None:
    with runtime(database_url) as rt:
        locators = enqueue(rt, new(PERMANENT, ordered_key="k"), new(FAIL, ordered_key="k"),
                           new(RECORD, ordered_key="k"))
        with worker(rt):  # idle does not wait for retries scheduled later: poll the last job
            wait_until(lambda: status(rt, locators[2]) == "finished", what="the last job")
        rows = job_rows(rt.db)
        assert [rows[loc]["status"] for loc in locators] == ["failed", "failed", "finished"]
        assert rows[locators[1]]["attempt"] == 3  # it retried, and the next waited for that


def test_a_cancelled_job_lets_the_next_one_run(database_url: str) -> None:
    with runtime(database_url) as rt:
        locators = enqueue(rt, *[new(RECORD, ordered_key="k") for _ in range(3)])
        with rt.db.begin() as conn:
            assert rt.queue.cancel(conn, locators[:2]) == locators[:2]
        assert status(rt, locators[2]) == "queued"
        with worker(rt):
            settle(rt)
        assert status(rt, locators[2]) == "finished"


def test_the_sweep_unblocks_a_job_whose_predecessor_ended_silently(database_url: str) -> None:
    with runtime(database_url) as rt:
        first, second = enqueue(rt, new(RECORD, ordered_key="k"), new(RECORD, ordered_key="k"))
        with rt.db.begin() as conn:  # as a path that ends a job without unblocking leaves it
            conn.execute(sa.text("DELETE FROM job_queue WHERE id = "
                                 "(SELECT id FROM jobs WHERE locator = :l)"), {"l": first})
            conn.execute(sa.text("UPDATE jobs SET status = 'finished' WHERE locator = :l"),
                         {"l": first})
        assert status(rt, second) == "blocked"
        with worker(rt):
            Upkeep(rt.queue).tick()
            settle(rt)
        assert status(rt, second) == "finished"


@pytest.mark.slow
def test_order_holds_across_worker_processes(postgres_url: str, tmp_path: Path) -> None:
    keys = [f"policy:P-{n}" for n in range(5)]
    with runtime(postgres_url) as rt, worker_processes(postgres_url, tmp_path, count=3):
        jobs = [new(RECORD, payload={"sleep": 0.01}, ordered_key=keys[n % 5]) for n in range(60)]
        enqueue(rt, *jobs[:30])
        enqueue(rt, *jobs[30:])
        wait_until(lambda: len(effect_spans(rt.db)) == 60, timeout=60, interval=0.1,
                   what="60 jobs to finish")
        spans = effect_spans(rt.db)
    for key in keys:
        assert_one_at_a_time(spans, [j.locator for j in jobs if j.ordered_key == key])


def test_the_next_job_of_a_parents_key_starts_as_the_parent_ends(database_url: str) -> None:
    """A parent's end queues the next job of its key; the worker that ended it (on
    PostgreSQL after its turn's claim) is woken for it, not left to its next poll."""
    with runtime(database_url, poll=timedelta(minutes=5)) as rt:
        parent = new(NOOP, ordered_key="schedule")
        child = new(NOOP, parent_locator=parent.locator)
        [*_, following] = enqueue(rt, parent, child, new(NOOP, ordered_key="schedule"))
        assert status(rt, following) == "blocked"
        with worker(rt):
            wait_until(lambda: status(rt, following) == "finished", timeout=60,
                       what="the job behind the parent to run")
        assert status(rt, parent.locator) == "finished"


@pytest.mark.postgres_only
def test_a_turn_ending_a_keys_job_holds_the_key_before_any_row(postgres_url: str) -> None:
    """An enqueue of an ordered key locks the key's unfinished jobs; a worker's turn ends
    one and then unblocks the next. Each holds the key's advisory lock first, so an enqueue
    and a turn of one key wait for each other whole, never for each other's rows (they
    once deadlocked, each holding a row the other wanted)."""
    key = "policy:P-1"
    with runtime(postgres_url) as rt:
        [first, second] = enqueue(rt, new(NOOP, ordered_key=key), new(NOOP, ordered_key=key))
        with rt.db.connect() as enqueuer, enqueuer.begin():
            rt.queue.lock_ordered(enqueuer, [(TENANT, key)])
            with worker(rt):
                wait_until(lambda: _advisory_waiters(rt) == 1, timeout=30,
                           what="the turn ending the key's first job to wait for the key")
                assert status(rt, first) != "finished"
                assert _row_locks_waited(rt) == 0
                enqueuer.commit()
                wait_until(lambda: status(rt, second) == "finished", timeout=30,
                           what="both jobs of the key to run once the enqueue committed")


def _advisory_waiters(rt: Runtime) -> int:
    with rt.db.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )).scalar_one())


def _row_locks_waited(rt: Runtime) -> int:
    with rt.db.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype IN ('tuple', 'transactionid') "
            "AND NOT granted")).scalar_one())
