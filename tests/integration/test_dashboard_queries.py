"""The dashboard's job filters, which read the queue's and the marks' narrow tables for every
status but finished, find exactly the jobs the engine shows in that status."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from policyjobs.dashboard import queries
from policyjobs.engine import NewJob, public_status
from policyjobs.engine.jobs import PublicStatus
from policyjobs.engine.schema import job_marks
from tests.support.engine_domain import (
    NOOP,
    PERMANENT,
    TENANT,
    claim_as,
    clock_of,
    enqueue,
    job_rows,
    new,
    runtime,
    settle,
    worker,
)


def test_each_status_filter_finds_the_jobs_in_that_status(database_url: str) -> None:
    with runtime(database_url, test_clock=True) as rt:
        due = clock_of(rt).now() + timedelta(hours=1)
        parent = new(NOOP)
        with worker(rt):
            enqueue(rt, parent, new(NOOP, parent_locator=parent.locator, run_at=due))
            enqueue(rt, new(NOOP), new(PERMANENT))
            settle(rt)
        [cancelled] = enqueue(rt, new(NOOP, run_at=due))
        with rt.db.begin() as conn:
            rt.queue.cancel(conn, [cancelled])
        enqueue(rt, new(NOOP, ordered_key="k"), new(NOOP, ordered_key="k"))  # leased, blocked
        claim_as(rt, "hung")
        enqueue(rt, new(NOOP, run_at=due), NewJob(kind=NOOP, tenant="another", run_at=due))
        shown = {locator: row["status"] for locator, row in job_rows(rt.db).items()
                 if row["tenant"] == TENANT}
        assert set(shown.values()) == {"queued", "blocked", "leased", "waiting", "finished",
                                       "failed", "cancelled"}

        for status in queries.STATUSES:
            with rt.db.connect() as conn:
                found = queries.search(conn, tenant=TENANT, kind=None, status=status,
                                       reference=None, offset=0)
            public = status in list(PublicStatus)
            expected = {locator for locator, engine in shown.items()
                        if (public_status(engine) if public else engine) == status}
            assert {row.locator for row in found} == expected, status
            assert [row.locator for row in found] == sorted(expected, reverse=True)


def test_a_mark_out_of_step_with_its_job_shows_nothing(database_url: str) -> None:
    """The marked lists check the job's own status too, so a stale mark (from a process of
    an older release, say) never lists a job in a status it is not in."""
    with runtime(database_url) as rt:
        with worker(rt):
            [done] = enqueue(rt, new(NOOP))
            settle(rt)
        done_id = job_rows(rt.db)[done]["id"]
        with rt.db.begin() as conn:
            conn.execute(sa.insert(job_marks).values(id=done_id, tenant=TENANT, locator=done,
                                                     status="failed"))
            assert queries.search(conn, tenant=TENANT, kind=None, status="failed",
                                  reference=None, offset=0) == []
            assert queries.failed(conn, tenant=TENANT) == []
            conn.execute(sa.delete(job_marks))  # so `runtime` finds the marks in step
