"""The engine's leases on real stores: heartbeat, rescue, prune, leadership, idleness, shutdown."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from policyjobs.engine.clock import wall_now
from policyjobs.engine.jobs import Outcome
from policyjobs.engine.upkeep import Upkeep
from policyjobs.engine.worker import Worker
from policyjobs.runtime import Runtime
from policyjobs.testing.waiting import wait_until
from tests.support.engine_domain import (
    LONG,
    NOOP,
    PERMANENT,
    RECORD,
    claim_as,
    clock_of,
    effects,
    enqueue,
    job_row,
    job_rows,
    leader,
    new,
    runtime,
    settle,
    status,
    wait_started,
    worker,
)

SHORT_LEASE = timedelta(milliseconds=300)
LATER = timedelta(days=1)


def expired_message(owner: str) -> str:
    """The error the rescuer records for a job whose worker died."""
    return f"worker {owner} stopped heartbeating; its lease expired"


def rescue_after_expiry(rt: Runtime) -> Upkeep:
    """Let every short lease run out, then run one upkeep round that leads and rescues."""
    time.sleep(SHORT_LEASE.total_seconds() + 0.1)
    upkeep = Upkeep(rt.queue, name="upkeep-under-test")
    upkeep.tick()
    assert upkeep.leading
    return upkeep


# -- heartbeat and rescue ---------------------------------------------------------------------


def test_heartbeat_keeps_a_lease_alive_past_its_length(database_url: str,
                                                       tmp_path: Path) -> None:
    with runtime(database_url, lease=timedelta(seconds=1)) as rt:
        running = rt.start_workers()
        started = tmp_path / "started"
        [locator] = enqueue(rt, new(RECORD, payload={"sleep": 2.5, "started_file": str(started)}))
        wait_started(started)
        time.sleep(1.5)  # past the first lease; the upkeep checks every 100 ms
        row = job_row(rt.db, locator)
        assert (row["status"], row["lease_owner"]) == ("leased", running.name)
        assert row["lease_expires_at"] > wall_now()
        wait_until(lambda: status(rt, locator) == "finished", timeout=10, what="the job to end")
        row = job_row(rt.db, locator)
        assert (row["attempt"], row["errors"]) == (1, [])
        assert [(loc, attempt) for loc, attempt, _ in effects(rt.db)] == [(locator, 1)]
        assert leader(rt) == running.name  # the rescuer was watching all along


def test_rescue_requeues_an_expired_lease_and_fails_it_once_attempts_run_out(
        database_url: str) -> None:
    with runtime(database_url) as rt:
        [locator] = enqueue(rt, new(RECORD, max_attempts=2))
        [ghost] = claim_as(rt, "ghost-1", lease=SHORT_LEASE)
        [alive] = enqueue(rt, new(RECORD))
        claim_as(rt, "alive-worker")  # its lease lasts an hour
        rescue_after_expiry(rt)
        assert job_row(rt.db, alive)["lease_owner"] == "alive-worker"
        row = job_row(rt.db, locator)
        assert (row["status"], row["attempt"], row["lease_owner"]) == ("queued", 1, None)
        assert [(e["attempt"], e["error"]) for e in row["errors"]] == [
            (1, expired_message("ghost-1"))]
        # The dead worker's late report of success is ignored: it no longer holds the lease.
        with rt.db.begin() as conn:
            rt.queue.backend.complete(conn, owner="ghost-1", outcomes=[Outcome(ghost)],
                                      now=rt.clock.now())
        assert status(rt, locator) == "queued"
        claim_as(rt, "ghost-2", lease=SHORT_LEASE)
        rescue_after_expiry(rt)
        row = job_row(rt.db, locator)
        assert (row["status"], row["attempt"]) == ("failed", 2)
        assert row["finished_at"] is not None
        assert [e["error"] for e in row["errors"]] == [
            expired_message("ghost-1"), expired_message("ghost-2")]
        assert effects(rt.db) == []
        assert (status(rt, alive), job_row(rt.db, alive)["errors"]) == ("leased", [])


def test_rescued_job_runs_again_on_a_live_worker(database_url: str) -> None:
    with runtime(database_url) as rt:
        [locator] = enqueue(rt, new(RECORD))
        claim_as(rt, "ghost", lease=SHORT_LEASE)
        rescue_after_expiry(rt)
        with worker(rt):
            settle(rt)
        row = job_row(rt.db, locator)
        assert (row["status"], row["attempt"]) == ("finished", 2)
        assert [(loc, attempt) for loc, attempt, _ in effects(rt.db)] == [(locator, 2)]


def test_rescue_failing_the_last_child_fails_its_waiting_parent(database_url: str) -> None:
    with runtime(database_url, test_clock=True) as rt:
        due = rt.clock.now() + LATER
        parent = new(NOOP)
        child = new(RECORD, parent_locator=parent.locator, run_at=due, max_attempts=1)
        enqueue(rt, parent, child)
        with worker(rt):
            settle(rt)
        assert status(rt, parent.locator) == "waiting"
        claim_as(rt, "ghost", lease=SHORT_LEASE, now=due)
        rescue_after_expiry(rt)
        assert (status(rt, child.locator), status(rt, parent.locator)) == ("failed", "failed")


# -- pruning and leadership -------------------------------------------------------------------


def test_prune_deletes_only_ended_jobs_older_than_the_retention(database_url: str) -> None:
    with runtime(database_url, test_clock=True, prune_after=timedelta(hours=1)) as rt:
        clock = clock_of(rt)
        start = clock.now()
        parent = new(NOOP)
        pending = new(NOOP, parent_locator=parent.locator, run_at=start + LATER)
        with worker(rt):
            old_finished, old_failed = enqueue(rt, new(NOOP), new(PERMANENT))
            [old_cancelled] = enqueue(rt, new(NOOP, run_at=start + LATER))
            with rt.db.begin() as conn:
                rt.queue.cancel(conn, [old_cancelled])
            enqueue(rt, parent, pending)
            settle(rt)
            clock.set(start + timedelta(hours=2))
            [recent] = enqueue(rt, new(NOOP))
            settle(rt)
        assert {status(rt, x) for x in (old_finished, old_failed, old_cancelled)} == {
            "finished", "failed", "cancelled"}
        Upkeep(rt.queue).tick()
        assert set(job_rows(rt.db)) == {parent.locator, pending.locator, recent}
        assert status(rt, parent.locator) == "waiting"


def test_only_one_upkeep_leads_and_another_takes_over_when_it_stops(database_url: str) -> None:
    with runtime(database_url) as rt:
        first, second = Upkeep(rt.queue, name="upkeep-1"), Upkeep(rt.queue, name="upkeep-2")
        for _ in range(3):
            first.tick()
            second.tick()
            assert (first.leading, second.leading) == (True, False)
        assert leader(rt) == "upkeep-1"
        first.start()
        second.start()
        try:
            time.sleep(0.5)
            assert (first.leading, second.leading, leader(rt)) == (True, False, "upkeep-1")
            first.stop()
            wait_until(lambda: second.leading, timeout=5, what="the follower to take over")
            assert (first.leading, leader(rt)) == (False, "upkeep-2")
        finally:
            first.stop()
            second.stop()
        assert leader(rt) is None


# -- idleness -------------------------------------------------------------------------------------


def test_wait_idle_is_false_while_a_job_is_due_or_leased_and_true_after(database_url: str) -> None:
    with runtime(database_url) as rt:
        assert rt.queue.wait_idle(timedelta(0)) is True
        [locator] = enqueue(rt, new(NOOP))
        started = time.monotonic()
        assert rt.queue.wait_idle(timedelta(milliseconds=300)) is False
        assert time.monotonic() - started >= 0.3
        [held] = claim_as(rt, "holder")
        assert rt.queue.wait_idle(timedelta(milliseconds=100)) is False
        with rt.db.begin() as conn:
            rt.queue.backend.release(conn, owner="holder", jobs=[(held.id, False)],
                                     now=rt.clock.now())
        assert (status(rt, locator), job_row(rt.db, locator)["attempt"]) == ("queued", 0)
        with worker(rt):
            assert rt.queue.wait_idle(LONG) is True
        assert status(rt, locator) == "finished"


# -- graceful shutdown ------------------------------------------------------------------------


def start_worker(rt: Runtime, concurrency: int | None = None) -> Worker:
    """A started worker the test stops itself."""
    running = Worker(rt.queue, concurrency=concurrency)
    running.start()
    return running


def test_stop_lets_the_running_job_finish_and_releases_the_unstarted(
        database_url: str, tmp_path: Path) -> None:
    with runtime(database_url) as rt:
        running = start_worker(rt, concurrency=1)
        try:
            files = [tmp_path / f"started-{n}" for n in range(2)]
            jobs = enqueue(rt, *[new(RECORD, payload={"sleep": 1, "started_file": str(f)})
                                 for f in files])
            wait_until(lambda: {status(rt, j) for j in jobs} == {"leased"}, what="both leased")
            wait_until(lambda: any(f.exists() for f in files), what="one job to start")
        finally:
            running.stop()
        rows = [job_row(rt.db, j) for j in jobs]
        states = sorted((r["status"], r["attempt"], r["lease_owner"]) for r in rows)
        assert states == [("finished", 1, None), ("queued", 0, None)]
        [done] = [r["locator"] for r in rows if r["status"] == "finished"]
        assert [(loc, attempt) for loc, attempt, _ in effects(rt.db)] == [(done, 1)]


def test_stop_after_a_short_grace_releases_the_running_job(database_url: str,
                                                           tmp_path: Path) -> None:
    with runtime(database_url, shutdown_grace=timedelta(milliseconds=200)) as rt:
        running = start_worker(rt)
        try:
            started = tmp_path / "started"
            [locator] = enqueue(rt, new(RECORD, payload={
                "sleep": 1.5, "sleep_attempts": 1, "started_file": str(started)}))
            wait_started(started)
        finally:
            running.stop()
        row = job_row(rt.db, locator)
        assert (row["status"], row["attempt"], row["lease_owner"]) == ("queued", 1, None)
        with worker(rt):
            wait_until(lambda: status(rt, locator) == "finished", what="the job to run again")
        assert job_row(rt.db, locator)["attempt"] == 2
        # The abandoned attempt still ends in the background: at-least-once, never lost.
        wait_until(lambda: len(effects(rt.db)) == 2, timeout=5, what="the abandoned attempt")


def test_stop_grace_argument_bounds_how_long_a_running_job_is_awaited(
        database_url: str, tmp_path: Path) -> None:
    with runtime(database_url) as rt:  # the settings' shutdown grace stays at 30 s
        running = start_worker(rt)
        started_file = tmp_path / "started"
        [locator] = enqueue(rt, new(RECORD, payload={"sleep": 2,
                                                     "started_file": str(started_file)}))
        try:
            wait_started(started_file)
            began = time.monotonic()
            running.stop(grace=timedelta(milliseconds=200))
            elapsed = time.monotonic() - began
        finally:
            running.stop()
        row = job_row(rt.db, locator)
        assert (row["status"], row["attempt"], row["lease_owner"]) == ("queued", 1, None)
        assert elapsed < 1.5
        # The abandoned attempt still ends in the background.
        wait_until(lambda: len(effects(rt.db)) == 1, timeout=5, what="the abandoned attempt")
