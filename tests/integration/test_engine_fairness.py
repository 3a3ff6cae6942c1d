"""Claims share the due work: a tenant's one job is claimed at the next claim however deep
another's backlog, lanes go in order, the lowest lane is never starved, a tenant's lanes
and cap are its configuration's, and the cap holds across worker processes."""

from __future__ import annotations

from datetime import timedelta
from itertools import accumulate
from pathlib import Path

import pytest
import sqlalchemy as sa

from policyjobs.engine import ClaimedJob, Lane, NewJob
from policyjobs.engine.clock import wall_now
from policyjobs.engine.fairness import OLDEST_EVERY, Rotation
from policyjobs.runtime import Runtime
from policyjobs.testing.waiting import wait_until
from tests.support.engine_domain import NOOP, RECORD, effect_spans, enqueue, runtime, settle, worker
from tests.support.worker_process import worker_processes

CAP = 3


def job(tenant: str, lane: Lane | None = None, kind: str = NOOP, **payload: object) -> NewJob:
    return NewJob(kind, tenant, dict(payload), lane=lane)


def claim(rt: Runtime, rotation: Rotation, limit: int) -> list[ClaimedJob]:
    """One claim of a worker whose memory is `rotation`, with `limit` free slots."""
    with rt.db.begin() as conn:
        return rt.queue.backend.claim(conn, owner="w", limit=limit, now=rt.clock.now(),
                                      lease_until=wall_now() + timedelta(hours=1),
                                      rotation=rotation)


def queue_lanes(rt: Runtime) -> dict[str, int]:
    """The lane each queued job's claims go by, by locator."""
    with rt.db.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT j.locator, q.lane FROM job_queue AS q JOIN jobs AS j ON j.id = q.id")).all())


def test_a_tenants_one_job_is_claimed_at_the_next_claim_behind_anothers_backlog(
        database_url: str) -> None:
    with runtime(database_url) as rt:
        enqueue(rt, *[job("a") for _ in range(500)])
        rotation = Rotation()
        assert {j.tenant for j in claim(rt, rotation, 8)} == {"a"}
        [neighbour] = enqueue(rt, job("b"))
        assert [j.locator for j in claim(rt, rotation, 1)] == [neighbour]
        # and a worker with room for more shares it between them
        [another] = enqueue(rt, job("b"))
        assert another in [j.locator for j in claim(rt, Rotation(), 4)]


def test_a_claim_after_the_queue_ran_dry_finds_whoever_enqueued_next(database_url: str) -> None:
    """A worker that drained one tenant's jobs still guesses that tenant is alone: the guess
    is checked in the statement that leases, so another tenant's job, or a job of another
    lane, is claimed all the same, and an empty queue gives nothing."""
    with runtime(database_url) as rt:
        rotation = Rotation()
        enqueue(rt, *[job("a") for _ in range(3)])
        assert len(claim(rt, rotation, 8)) == 3
        assert claim(rt, rotation, 8) == []
        [neighbour] = enqueue(rt, job("b"))
        assert [j.locator for j in claim(rt, rotation, 8)] == [neighbour]
        [urgent] = enqueue(rt, job("b", Lane.INTERACTIVE))
        assert [j.locator for j in claim(rt, rotation, 8)] == [urgent]
        again = enqueue(rt, *[job("b", Lane.INTERACTIVE) for _ in range(2)])
        assert [j.locator for j in claim(rt, rotation, 8)] == again  # alone now, oldest first


def test_interactive_jobs_are_claimed_before_batch_ones(database_url: str) -> None:
    with runtime(database_url) as rt:
        batch = enqueue(rt, *[job("a", Lane.BATCH) for _ in range(20)])
        interactive = enqueue(rt, *[job("a", Lane.INTERACTIVE) for _ in range(3)],
                              job("b", Lane.INTERACTIVE))
        claimed = claim(rt, Rotation(), 6)
    assert [j.locator for j in claimed[:4]] == interactive
    assert [j.locator for j in claimed[4:]] == batch[:2]  # what the lane left, oldest first
    assert [j.lane for j in claimed] == [0, 0, 0, 0, 2, 2]


def test_a_batch_job_is_not_starved_by_a_stream_of_interactive_ones(database_url: str) -> None:
    """Strict priority would claim the batch job after all 50 interactive ones; one slot in
    ten goes to the oldest due job, so it is claimed within the first ten."""
    with runtime(database_url) as rt:
        [old] = enqueue(rt, job("a", Lane.BATCH))
        enqueue(rt, *[job("a", Lane.INTERACTIVE) for _ in range(50)])
        rotation = Rotation()
        order = [j.locator for _ in range(2 * OLDEST_EVERY) for j in claim(rt, rotation, 1)]
    assert order.index(old) == OLDEST_EVERY - 1


def test_a_tenants_configuration_sets_its_kinds_lanes(database_url: str) -> None:
    with runtime(database_url) as rt:
        [own, interactive] = enqueue(rt, job("a"), job("a", Lane.INTERACTIVE))
        [other] = enqueue(rt, job("b"))
        with rt.db.begin() as conn:
            rt.queue.configure_tenant(conn, "a", max_running=None, lanes={NOOP: Lane.BATCH})
        [later] = enqueue(rt, job("a", Lane.INTERACTIVE))
        assert queue_lanes(rt) == {own: 2, interactive: 2, other: 1, later: 2}
        with rt.db.begin() as conn:  # taken away: each goes back to its enqueuer's lane
            rt.queue.configure_tenant(conn, "a", max_running=None, lanes={})
        assert queue_lanes(rt) == {own: 1, interactive: 0, other: 1, later: 0}


def test_a_tenant_at_its_cap_waits_and_the_others_do_not(database_url: str) -> None:
    with runtime(database_url) as rt:
        with rt.db.begin() as conn:
            rt.queue.configure_tenant(conn, "a", max_running=2, lanes={})
        enqueue(rt, *[job("a") for _ in range(10)])
        rotation = Rotation()
        assert [j.tenant for j in claim(rt, rotation, 10)] == ["a", "a"]
        enqueue(rt, *[job("b") for _ in range(3)])
        assert [j.tenant for j in claim(rt, rotation, 10)] == ["b", "b", "b"]


@pytest.mark.postgres_only
@pytest.mark.slow
def test_a_tenants_cap_holds_across_worker_processes(postgres_url: str, tmp_path: Path) -> None:
    """Four processes and short jobs, so that claims for the tenant meet again and again (two
    processes seldom claim at the same moment): without the lock on the tenant's cap row,
    its jobs ran five and six at a time here."""
    with runtime(postgres_url) as rt:
        with rt.db.begin() as conn:
            rt.queue.configure_tenant(conn, "capped", max_running=CAP, lanes={})
        locators = enqueue(rt, *[job("capped", kind=RECORD, sleep=0.005) for _ in range(400)])
        with worker_processes(postgres_url, tmp_path, count=4,
                              overrides={"POLICYJOBS_CONCURRENCY": "4"}):
            wait_until(lambda: len(effect_spans(rt.db)) == len(locators), timeout=60,
                       interval=0.1, what="every capped job to run")
        spans = effect_spans(rt.db)
    edges = sorted([(start, 1) for start, _ in spans.values()]
                   + [(end, -1) for _, end in spans.values()])
    assert max(accumulate(step for _, step in edges)) == CAP


def test_a_worker_runs_a_neighbours_job_while_a_backlog_waits(database_url: str) -> None:
    """End to end through a worker: a tenant's job enqueued behind another's backlog of slow
    jobs runs long before the backlog is through."""
    with runtime(database_url) as rt:
        backlog = enqueue(rt, *[job("a", kind=RECORD, sleep=0.02) for _ in range(200)])
        with worker(rt, concurrency=2):
            wait_until(lambda: len(effect_spans(rt.db)) >= 10, timeout=30, what="a to start")
            [neighbour] = enqueue(rt, job("b", kind=RECORD))
            wait_until(lambda: neighbour in effect_spans(rt.db), timeout=30,
                       what="b's job to run")
            done_before = len(effect_spans(rt.db))
            settle(rt)
    assert done_before < len(backlog) / 2
