"""The engine's listings of jobs (the dashboard's): the filters, which read the queue's and the
marks' narrow tables for every status but finished, find exactly the jobs the engine shows
in that status, through the reads the API and the dashboard await."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from policyjobs.engine import NewJob, listing, public_status
from policyjobs.engine.jobs import PublicStatus
from policyjobs.engine.schema import job_marks
from policyjobs.runtime import Runtime
from policyjobs.store.readers import Reads, reads_for
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

T = TypeVar("T")


def read(rt: Runtime, how: Callable[[Reads], Awaitable[T]]) -> T:
    """`how` awaited on reads of `rt`'s store, as a page awaits them."""
    async def run() -> T:
        reads = reads_for(rt.db)
        try:
            return await how(reads)
        finally:
            await reads.close()

    return asyncio.run(run())


def search(rt: Runtime, status: str) -> Any:
    return read(rt, lambda reads: listing.search(reads, tenant=TENANT, kind=None,
                                                 status=status, reference=None, offset=0))


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

        for status in listing.STATUSES:
            found = search(rt, status)
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
        assert list(search(rt, "failed")) == []
        assert list(read(rt, lambda reads: listing.failed(reads, tenant=TENANT))) == []
        with rt.db.begin() as conn:
            conn.execute(sa.delete(job_marks))  # so `runtime` finds the marks in step
