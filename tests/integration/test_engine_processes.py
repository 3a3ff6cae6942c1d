"""The engine across real worker processes: exactly-once results, crashes, graceful stops."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from policyjobs.engine import NewJob
from policyjobs.testing.processes import Spawned
from policyjobs.testing.waiting import wait_until
from tests.support.engine_domain import (
    NOOP,
    RECORD,
    TENANT,
    effects,
    enqueue,
    job_row,
    job_rows,
    new,
    runtime,
    status,
    wait_started,
)
from tests.support.worker_process import STOPPED, worker_processes

pytestmark = pytest.mark.slow

JOBS = 400
WAIT = 30.0


def leased_by(row: dict[str, object], process: Spawned) -> bool:
    """Whether `row` is leased by a worker of `process` (worker names hold the pid)."""
    owner = row["lease_owner"]
    return row["status"] == "leased" and isinstance(owner, str) and f":{process.pid}:" in owner


def finished_count(db: sa.Engine) -> int:
    """How many jobs have finished."""
    with db.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM jobs WHERE status = 'finished'"))
        return int(count.scalar() or 0)


def test_four_processes_commit_exactly_one_result_per_job(postgres_url: str,
                                                          tmp_path: Path) -> None:
    with runtime(postgres_url) as rt, worker_processes(
            postgres_url, tmp_path, count=4, overrides={"POLICYJOBS_BATCH_SIZE": "20"}) as procs:
        locators = enqueue(rt, *[new(RECORD, payload={"sleep": 0.02}) for _ in range(JOBS)])
        wait_until(lambda: finished_count(rt.db) == JOBS, timeout=WAIT, interval=0.1,
                   what=f"{JOBS} jobs to finish")
        rows = job_rows(rt.db)
        done = effects(rt.db)
    assert {row["status"] for row in rows.values()} == {"finished"}
    assert sorted(locator for locator, _, _ in done) == sorted(locators)  # one row per job
    by_job = {locator: pid for locator, _, pid in done}
    assert all(rows[loc]["result"]["pid"] == by_job[loc] for loc in locators)
    pids = set(by_job.values())
    assert pids <= {p.pid for p in procs}
    assert len(pids) > 1, "every job ran in one process"


def test_job_of_a_killed_process_is_rerun_after_its_lease_expires(database_url: str,
                                                                  tmp_path: Path) -> None:
    with runtime(database_url) as rt:
        with worker_processes(database_url, tmp_path / "doomed") as [doomed]:
            started = tmp_path / "started"
            [locator] = enqueue(rt, new(RECORD, payload={
                "sleep": 30, "sleep_attempts": 1, "started_file": str(started)}))
            wait_started(started)
            assert leased_by(job_row(rt.db, locator), doomed)
            dead_owner = job_row(rt.db, locator)["lease_owner"]
            doomed.kill()
        assert status(rt, locator) == "leased"
        with worker_processes(database_url, tmp_path / "survivor") as [survivor]:
            wait_until(lambda: status(rt, locator) == "finished", timeout=WAIT,
                       what="the survivor to rerun the job")
        row = job_row(rt.db, locator)
        assert row["attempt"] == 2
        assert [(e["attempt"], e["error"]) for e in row["errors"]] == [
            (1, f"worker {dead_owner} stopped heartbeating; its lease expired")]
        assert effects(rt.db) == [(locator, 2, survivor.pid)]


def test_sigterm_lets_the_running_job_finish_then_exits_zero(database_url: str,
                                                             tmp_path: Path) -> None:
    with runtime(database_url) as rt, worker_processes(database_url, tmp_path) as [process]:
        started_file = tmp_path / "started"
        [locator] = enqueue(rt, new(RECORD, payload={"sleep": 1,
                                                     "started_file": str(started_file)}))
        wait_started(started_file)
        assert leased_by(job_row(rt.db, locator), process)
        started = time.monotonic()
        process.terminate()
        assert process.process.wait(timeout=WAIT) == 0, process.output()
        assert time.monotonic() - started < 15
        row = job_row(rt.db, locator)
        assert (row["status"], row["attempt"]) == ("finished", 1)
        assert effects(rt.db) == [(locator, 1, process.pid)]
        assert STOPPED in process.output()


def test_a_kind_paused_is_claimed_by_no_process_until_resumed(database_url: str,
                                                               tmp_path: Path) -> None:
    """Pausing is in the store: every process's claims skip the kind at once, for the
    tenant paused, and take it up again when it is resumed."""
    with runtime(database_url) as rt, worker_processes(database_url, tmp_path,
                                                       count=2) as procs:
        with rt.db.begin() as conn:
            pause, _ = rt.queue.pause(conn, RECORD, TENANT)
        held = enqueue(rt, *[new(RECORD) for _ in range(40)])
        other = enqueue(rt, *[NewJob(RECORD, "tenant-b") for _ in range(20)],
                        *[new(NOOP) for _ in range(20)])
        wait_until(lambda: finished_count(rt.db) == len(other), timeout=WAIT, interval=0.1,
                   what="the jobs not paused to finish")
        time.sleep(1)  # many polls of both processes
        assert {status(rt, locator) for locator in held} == {"queued"}
        assert all(p.running() for p in procs)
        with rt.db.begin() as conn:
            assert rt.queue.resume(conn, pause.locator) == pause
        wait_until(lambda: finished_count(rt.db) == len(other) + len(held), timeout=WAIT,
                   interval=0.1, what="the paused jobs to run once resumed")
