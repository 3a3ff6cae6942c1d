"""The dashboard's job filters, which read the queue's and the marks' narrow tables for every
status but finished, find exactly the jobs the engine shows in that status."""

from __future__ import annotations

from datetime import timedelta

from policyjobs.dashboard import queries
from policyjobs.engine import NewJob, public_status
from policyjobs.engine.jobs import PublicStatus
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
