"""The engine's contract on real stores: enqueue, schedule, retry, cancel, parents and children."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import psycopg
import pytest
import sqlalchemy as sa

from policyjobs.domain import Domain
from policyjobs.engine import JobContext, JobKind, NewJob
from policyjobs.engine.clock import wall_now
from policyjobs.engine.jobs import ClaimedJob, Outcome
from policyjobs.engine.upkeep import Upkeep
from policyjobs.runtime import Runtime
from policyjobs.testing.waiting import wait_until
from tests.support import engine_domain
from tests.support.engine_domain import (
    FAIL,
    NOOP,
    PERMANENT,
    RECORD,
    TENANT,
    claim_as,
    clock_of,
    effects,
    enqueue,
    job_row,
    job_rows,
    marks,
    new,
    runtime,
    settle,
    status,
    worker,
)

LATER = timedelta(hours=1)


# -- enqueue --------------------------------------------------------------------------------


def test_enqueue_returns_locators_in_order_and_rows_are_queued(database_url: str) -> None:
    with runtime(database_url) as rt:
        jobs = [new(NOOP, payload={"n": n}) for n in range(5)]
        locators = enqueue(rt, *jobs)
        assert locators == [j.locator for j in jobs]
        rows = job_rows(rt.db)
        assert set(rows) == set(locators)
        for n, locator in enumerate(locators):
            row = rows[locator]
            assert (row["status"], row["attempt"], row["payload"]) == ("queued", 0, {"n": n})
            assert (row["tenant"], row["kind"], row["errors"]) == (TENANT, NOOP, [])


def test_enqueue_in_a_rolled_back_transaction_leaves_no_job(database_url: str) -> None:
    with runtime(database_url) as rt:
        with rt.db.connect() as conn:
            transaction = conn.begin()
            locators = rt.queue.enqueue(conn, [new(NOOP), new(RECORD)])
            inside = conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar()
            transaction.rollback()
        assert (len(locators), inside) == (2, 2)
        assert job_rows(rt.db) == {}
        with worker(rt):
            settle(rt)
        assert effects(rt.db) == []


def test_a_transaction_the_server_dropped_raises_the_drivers_error(postgres_url: str) -> None:
    """What the worker logs and a job's attempt records is the lost connection, not
    SQLAlchemy's complaint about a rollback hook on it."""
    with runtime(postgres_url) as rt:
        with pytest.raises(sa.exc.OperationalError) as raised, rt.db.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        assert raised.value.connection_invalidated
        assert enqueue(rt, new(NOOP))  # the pool goes on with a fresh connection


def test_dedupe_key_returns_the_existing_jobs_locator(database_url: str) -> None:
    with runtime(database_url) as rt:
        [first] = enqueue(rt, new(NOOP, dedupe_key="k1"))
        again = enqueue(rt, new(NOOP, dedupe_key="k1"), new(NOOP, dedupe_key="k2"),
                        new(NOOP, dedupe_key="k2"))
        assert again[0] == first
        assert again[1] == again[2] != first
        other_tenant = enqueue(rt, NewJob(kind=NOOP, tenant="tenant-b", dedupe_key="k1"))
        assert other_tenant[0] not in (first, again[1])
        assert set(job_rows(rt.db)) == {first, again[1], other_tenant[0]}


def test_a_batch_longer_than_a_statement_keeps_every_promise(database_url: str) -> None:
    """On PostgreSQL a batch goes out 1,000 jobs a statement, pipelined: keys taken in an
    earlier statement of the batch, or before it, and ordered keys across statements, hold
    as in a batch of one statement."""
    with runtime(database_url) as rt:
        [held] = enqueue(rt, new(NOOP, dedupe_key="held"))
        later = wall_now() + LATER
        jobs = [new(NOOP, payload={"n": n}, reference_type="policy",
                    reference_locator=f"P-{n % 7}") for n in range(2_500)]
        jobs[5] = new(NOOP, dedupe_key="twice")
        jobs[1_800] = new(NOOP, dedupe_key="twice")  # in the second statement
        jobs[2_400] = new(NOOP, dedupe_key="held")  # in the third, taken before the batch
        jobs[10] = new(NOOP, ordered_key="chain")
        jobs[2_200] = new(NOOP, ordered_key="chain")  # behind the first, two statements on
        jobs[1_500] = new(NOOP, run_at=later)
        locators = enqueue(rt, *jobs)
        assert locators[1_800] == locators[5] == jobs[5].locator
        assert locators[2_400] == held
        others = [n for n in range(2_500) if n not in (1_800, 2_400)]
        assert [locators[n] for n in others] == [jobs[n].locator for n in others]
        rows = job_rows(rt.db)
        assert len(rows) == 2_499  # the held job and the batch's 2,498 new ones
        assert (rows[jobs[10].locator]["status"], rows[jobs[2_200].locator]["status"]) == (
            "queued", "blocked")
        assert rows[jobs[1_500].locator]["run_at"] == later
        assert rows[jobs[999].locator]["payload"] == {"n": 999}
        assert rows[jobs[999].locator]["reference_locator"] == "P-5"
        with rt.db.connect() as conn:
            queued = conn.execute(sa.text("SELECT count(*) FROM job_queue")).scalar_one()
        assert queued == 2_499


def test_a_batch_that_fails_in_a_later_statement_leaves_no_job(postgres_url: str) -> None:
    """A pipelined statement's error is SQLAlchemy's, as any other statement's, and the
    transaction keeps nothing of the statements before it."""
    with runtime(postgres_url) as rt:
        jobs = [new(NOOP) for _ in range(2_500)]
        jobs[2_200] = NewJob(kind=NOOP, tenant="t" * 37)  # longer than a tenant can be
        with pytest.raises(sa.exc.DataError):
            enqueue(rt, *jobs)
        assert job_rows(rt.db) == {}
        assert enqueue(rt, *(new(NOOP) for _ in range(1_500)))


def test_a_batch_whose_connection_is_lost_raises_the_drivers_error(postgres_url: str) -> None:
    with runtime(postgres_url) as rt:
        with rt.db.connect() as conn:
            conn.begin()
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with rt.db.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(sa.exc.OperationalError) as raised:
                rt.queue.enqueue(conn, [new(NOOP) for _ in range(2_500)])
        assert raised.value.connection_invalidated
        assert "INSERT INTO jobs" in str(raised.value.statement)  # the pipelined insert's
        assert enqueue(rt, *(new(NOOP) for _ in range(1_500)))  # on a fresh connection
        assert len(job_rows(rt.db)) == 1_500


def test_other_processes_are_told_once_a_transaction_even_after_a_savepoint_undid_it(
        postgres_url: str) -> None:
    """An intake batch enqueues event by event: the transaction notifies once, and again
    after a savepoint that rolled its notification back (a refused event's)."""
    with runtime(postgres_url) as rt:
        dsn = rt.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as listener:
            listener.execute("LISTEN policyjobs_jobs")
            with rt.db.begin() as conn:
                refused = conn.begin_nested()
                rt.queue.enqueue(conn, [new(NOOP)])
                refused.rollback()
                rt.queue.enqueue(conn, [new(NOOP)])
                rt.queue.enqueue(conn, [new(NOOP)])
            heard = list(listener.notifies(timeout=5, stop_after=1))
        assert [n.channel for n in heard] == ["policyjobs_jobs"]


# -- scheduling and retries -------------------------------------------------------------------


def test_future_job_runs_only_once_the_test_clock_passes_its_run_at(database_url: str) -> None:
    with runtime(database_url, test_clock=True) as rt, worker(rt):
        clock = clock_of(rt)
        due = clock.now() + LATER
        [locator] = enqueue(rt, new(NOOP, run_at=due))
        settle(rt)
        assert (status(rt, locator), job_row(rt.db, locator)["attempt"]) == ("queued", 0)
        clock.set(due - timedelta(seconds=1))
        settle(rt)
        assert status(rt, locator) == "queued"
        clock.set(due + timedelta(seconds=1))
        settle(rt)
        row = job_row(rt.db, locator)
        assert (row["status"], row["attempt"]) == ("finished", 1)
        assert row["started_at"] >= due


def test_failing_job_backs_off_and_fails_after_max_attempts(database_url: str) -> None:
    with runtime(database_url) as rt, worker(rt):
        [locator] = enqueue(rt, new(FAIL, payload={"message": "boom"}))
        # A job waiting out its backoff is not due, so wait for its end rather than idleness.
        wait_until(lambda: status(rt, locator) == "failed", what="the retries to run out")
        row = job_row(rt.db, locator)
    assert (row["status"], row["attempt"]) == ("failed", engine_domain.FAIL_MAX_ATTEMPTS)
    errors = row["errors"]
    assert [e["attempt"] for e in errors] == [1, 2, 3]
    assert all(e["error"] == "ValueError: boom" for e in errors)
    at = [datetime.fromisoformat(e["at"]) for e in errors]
    base = engine_domain.FAIL_BACKOFF_BASE
    # Each attempt waits out at least the jittered backoff (half of base * 2**(attempt-1)).
    assert at[1] - at[0] >= base * 0.5
    assert at[2] - at[1] >= base
    # The last retry moved run_at forward by backoff(2), within [base, 2 * base].
    tolerance = timedelta(milliseconds=1)
    assert at[1] + base - tolerance <= row["run_at"] <= at[1] + 2 * base + tolerance
    assert row["run_at"] > row["created_at"]
    assert row["started_at"] >= row["run_at"]


def test_permanent_error_fails_on_the_first_attempt(database_url: str) -> None:
    with runtime(database_url) as rt, worker(rt):
        [locator] = enqueue(rt, new(PERMANENT, payload={"message": "cannot ever work"}))
        settle(rt)
        row = job_row(rt.db, locator)
    assert (row["status"], row["attempt"]) == ("failed", 1)
    assert [(e["attempt"], e["error"]) for e in row["errors"]] == [(1, "cannot ever work")]
    assert row["finished_at"] is not None


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_ends_a_queued_job(database_url: str) -> None:
    with runtime(database_url) as rt:
        [locator] = enqueue(rt, new(NOOP))
        with rt.db.begin() as conn:
            assert rt.queue.cancel(conn, [locator]) == [locator]
        row = job_row(rt.db, locator)
        assert (row["status"], row["attempt"]) == ("cancelled", 0)
        assert row["finished_at"] is not None
        with worker(rt):
            settle(rt)
        assert status(rt, locator) == "cancelled"


def test_cancel_leaves_a_leased_job_alone(database_url: str) -> None:
    with runtime(database_url) as rt:
        [locator] = enqueue(rt, new(NOOP))
        assert [j.locator for j in claim_as(rt, "busy-worker")] == [locator]
        with rt.db.begin() as conn:
            assert rt.queue.cancel(conn, [locator]) == []
        row = job_row(rt.db, locator)
        assert (row["status"], row["lease_owner"]) == ("leased", "busy-worker")


# -- parents and children ---------------------------------------------------------------------


def family(rt: Runtime, parent: NewJob, *children: NewJob) -> None:
    """Enqueue a parent and its children in one transaction."""
    enqueue(rt, parent, *children)


def test_parent_finishes_only_after_every_child_ended(database_url: str) -> None:
    with runtime(database_url, test_clock=True) as rt, worker(rt):
        clock = clock_of(rt)
        due = clock.now() + LATER
        parent = new(NOOP)
        now_child = new(RECORD, parent_locator=parent.locator)
        late_child = new(NOOP, parent_locator=parent.locator, run_at=due)
        family(rt, parent, now_child, late_child)
        settle(rt)
        assert status(rt, parent.locator) == "waiting"
        assert status(rt, now_child.locator) == "finished"
        assert status(rt, late_child.locator) == "queued"
        clock.set(due + timedelta(seconds=1))
        settle(rt)
        rows = job_rows(rt.db)
        assert {rows[j.locator]["status"] for j in (parent, now_child, late_child)} == {"finished"}
        assert rows[parent.locator]["finished_at"] >= rows[late_child.locator]["finished_at"]


def test_parent_fails_when_a_child_failed_once_all_ended(database_url: str) -> None:
    with runtime(database_url, test_clock=True) as rt, worker(rt):
        clock = clock_of(rt)
        due = clock.now() + LATER
        parent = new(NOOP)
        failing = new(PERMANENT, parent_locator=parent.locator)
        late_child = new(NOOP, parent_locator=parent.locator, run_at=due)
        family(rt, parent, failing, late_child)
        settle(rt)
        assert (status(rt, parent.locator), status(rt, failing.locator)) == ("waiting", "failed")
        clock.set(due + timedelta(seconds=1))
        settle(rt)
        assert (status(rt, parent.locator), status(rt, late_child.locator)) == (
            "failed", "finished")


def test_job_marks_list_the_waiting_failed_and_cancelled_jobs(database_url: str) -> None:
    """`job_marks` follows each engine path that moves a job in or out of those statuses
    (`runtime` checks the table against the jobs after every engine test)."""
    with runtime(database_url, test_clock=True) as rt:
        clock = clock_of(rt)
        due = clock.now() + LATER
        parent = new(NOOP)
        failing = new(PERMANENT, parent_locator=parent.locator)
        late_child = new(NOOP, parent_locator=parent.locator, run_at=due)
        with worker(rt):
            family(rt, parent, failing, late_child)
            [cancelled] = enqueue(rt, new(NOOP, run_at=due))
            with rt.db.begin() as conn:
                rt.queue.cancel(conn, [cancelled])
            settle(rt)
            assert marks(rt.db) == {parent.locator: (TENANT, "waiting"),
                                    failing.locator: (TENANT, "failed"),
                                    cancelled: (TENANT, "cancelled")}
            clock.set(due + timedelta(seconds=1))
            settle(rt)
            assert marks(rt.db)[parent.locator] == (TENANT, "failed")
        with rt.db.begin() as conn:
            rt.queue.requeue(conn, [parent.locator, failing.locator])
        assert marks(rt.db) == {cancelled: (TENANT, "cancelled")}


def test_a_failed_child_run_again_reopens_the_parents_it_failed_which_then_finish(
        database_url: str) -> None:
    with runtime(database_url) as rt:
        grandparent = new(NOOP)
        parent = new(NOOP, parent_locator=grandparent.locator)
        child = new(PERMANENT, payload={"fail_attempts": 1}, parent_locator=parent.locator)
        with worker(rt):
            family(rt, grandparent, parent, child)
            settle(rt)
        assert [status(rt, j.locator) for j in (child, parent, grandparent)] == ["failed"] * 3
        with rt.db.begin() as conn:
            assert rt.queue.requeue(conn, [child.locator]) == [child.locator]
        assert [status(rt, j.locator) for j in (child, parent, grandparent)] == [
            "queued", "waiting", "waiting"]
        assert marks(rt.db) == {parent.locator: (TENANT, "waiting"),
                                grandparent.locator: (TENANT, "waiting")}
        with worker(rt):
            settle(rt)
        rows = job_rows(rt.db)
        assert [rows[j.locator]["status"] for j in (child, parent, grandparent)] == [
            "finished"] * 3
        assert rows[parent.locator]["finished_at"] >= rows[child.locator]["finished_at"]


def test_a_parent_that_failed_on_its_own_attempt_stays_failed_when_its_child_runs_again(
        database_url: str) -> None:
    with runtime(database_url) as rt:
        parent = new(PERMANENT)
        child = new(PERMANENT, payload={"fail_attempts": 1}, parent_locator=parent.locator)
        with worker(rt):
            family(rt, parent, child)
            settle(rt)
        with rt.db.begin() as conn:
            rt.queue.requeue(conn, [child.locator])
        with worker(rt):
            settle(rt)
        assert (status(rt, parent.locator), status(rt, child.locator)) == ("failed", "finished")


def test_grandparent_chain_resolves_upwards(database_url: str) -> None:
    with runtime(database_url, test_clock=True) as rt, worker(rt):
        clock = clock_of(rt)
        due = clock.now() + LATER
        grandparent = new(NOOP)
        parent = new(NOOP, parent_locator=grandparent.locator)
        child = new(NOOP, parent_locator=parent.locator, run_at=due)
        family(rt, grandparent, parent, child)
        settle(rt)
        assert (status(rt, grandparent.locator), status(rt, parent.locator)) == (
            "waiting", "waiting")
        clock.set(due + timedelta(seconds=1))
        settle(rt)
        rows = job_rows(rt.db)
        assert [rows[j.locator]["status"] for j in (child, parent, grandparent)] == [
            "finished"] * 3


def test_job_of_an_unknown_kind_fails_with_the_reason(database_url: str) -> None:
    with runtime(database_url) as rt, worker(rt):
        [locator] = enqueue(rt, new("test.nobody-handles-this"))
        settle(rt)
        row = job_row(rt.db, locator)
    assert (row["status"], row["attempt"], row["max_attempts"]) == ("failed", 1, 1)
    assert "UnknownJobKind" in row["errors"][0]["error"]


def unserializable(_context: JobContext) -> object:
    """A handler whose result cannot be stored as JSON."""
    return object()


POISON = Domain(name="poison", kinds=(JobKind("test.unserializable", unserializable),))


def test_unserializable_result_fails_the_job_and_the_worker_goes_on(database_url: str) -> None:
    with runtime(database_url, domains=[POISON]) as rt, worker(rt):
        [poison] = enqueue(rt, new("test.unserializable", max_attempts=1))
        wait_until(lambda: status(rt, poison) != "queued", what="the poison job to be claimed")
        [healthy] = enqueue(rt, new(NOOP))
        wait_until(lambda: status(rt, healthy) == "finished", timeout=3,
                   what="the worker to run the next job")
        row = job_row(rt.db, poison)
    assert (row["status"], row["attempt"]) == ("failed", 1)
    assert "JSON" in row["errors"][0]["error"]


def record_success(rt: Runtime, conn: sa.Connection, job: ClaimedJob) -> None:
    """What Worker._record does for one successful attempt, in `conn`'s open transaction,
    on a store that ends parents in the turn."""
    rt.queue.backend.resolve_waiting(conn, complete_alone(rt, conn, job), rt.clock.now())


def complete_alone(rt: Runtime, conn: sa.Connection, job: ClaimedJob) -> set[str]:
    """What a worker's turn records of one successful attempt when the store ends parents
    after the turn commits: the parents it leaves to look at then."""
    waiting = rt.queue.backend.complete(conn, owner="owner", outcomes=[Outcome(job)],
                                        now=rt.clock.now()).waiting
    return waiting | ({job.parent_locator} if job.parent_locator else set())


def claim_family(rt: Runtime, *family_: NewJob) -> dict[str, ClaimedJob]:
    """Enqueue a family and lease it all to "owner", by locator."""
    family(rt, *family_)
    return {job.locator: job for job in claim_as(rt, "owner")}


@pytest.mark.postgres_only
def test_parent_and_last_child_completing_concurrently_resolve(postgres_url: str) -> None:
    # READ COMMITTED: unless the child's transaction waits for the parent's row lock, neither
    # transaction sees the other's update and the parent stays 'waiting' forever.
    with runtime(postgres_url) as rt:
        parent = new(NOOP)
        child = new(NOOP, parent_locator=parent.locator)
        jobs = claim_family(rt, parent, child)
        child_recorded, parent_committed = threading.Event(), threading.Event()
        failures: list[BaseException] = []

        def child_worker() -> None:
            # A second worker records the child while the parent's outcome is uncommitted.
            try:
                with rt.db.connect() as conn, conn.begin():
                    record_success(rt, conn, jobs[child.locator])
                    child_recorded.set()
                    parent_committed.wait(10)
            except BaseException as exc:
                failures.append(exc)
                child_recorded.set()

        thread = threading.Thread(target=child_worker, daemon=True)
        with rt.db.connect() as conn:
            with conn.begin():
                waiting = rt.queue.backend.complete(
                    conn, owner="owner", outcomes=[Outcome(jobs[parent.locator])],
                    now=rt.clock.now()).waiting
                assert waiting == {parent.locator}
                thread.start()
                # Returns at once unless the child's transaction waits for the parent's lock.
                child_recorded.wait(1)
                rt.queue.backend.resolve_waiting(conn, waiting, rt.clock.now())
            parent_committed.set()
        thread.join(10)
        assert (thread.is_alive(), failures) == (False, [])
        assert status(rt, child.locator) == "finished"
        assert status(rt, parent.locator) == "finished"


def end_apart(rt: Runtime, parents: set[str]) -> list[str]:
    """What a worker does after such a turn commits: the parents it ended."""
    with rt.db.begin() as conn:
        return rt.queue.end_parents(conn, parents)


@pytest.mark.postgres_only
def test_children_ended_apart_end_their_parent_whichever_commits_last(postgres_url: str) -> None:
    """A parent's two last children end in two turns, and the parent's own turn leaves it
    waiting beside them; each looks at the parents after it commits, without a lock. Each
    time, the one that looks last (before the others commit, nothing ends) ends the parent."""
    with runtime(postgres_url) as rt:
        parent = new(NOOP)
        first, second = (new(NOOP, parent_locator=parent.locator) for _ in range(2))
        jobs = claim_family(rt, parent, first, second)
        with rt.db.connect() as a, rt.db.connect() as b, rt.db.connect() as c:
            turns = [a.begin(), b.begin(), c.begin()]
            looks = [complete_alone(rt, a, jobs[first.locator]),
                     complete_alone(rt, b, jobs[parent.locator]),
                     complete_alone(rt, c, jobs[second.locator])]
            ended = []
            for turn, parents in zip(turns, looks, strict=True):
                turn.commit()
                ended.append(end_apart(rt, parents))
                if turn is not turns[-1]:
                    assert status(rt, parent.locator) != "finished"
        assert ended == [[], [], [parent.locator]]
        assert status(rt, parent.locator) == "finished"
        assert marks(rt.db) == {}


def test_a_parent_no_worker_ended_is_ended_by_the_upkeep(database_url: str) -> None:
    """A worker that dies between its turn's commit and ending the parents leaves them
    waiting with every child ended: the upkeep's sweep ends them, upwards."""
    with runtime(database_url) as rt:
        grandparent = new(NOOP)
        parent = new(NOOP, parent_locator=grandparent.locator)
        child = new(NOOP, parent_locator=parent.locator)
        jobs = claim_family(rt, grandparent, parent, child)
        for job in (grandparent, parent, child):  # three turns, no one looking after them
            with rt.db.begin() as conn:
                complete_alone(rt, conn, jobs[job.locator])
        assert status(rt, grandparent.locator) == status(rt, parent.locator) == "waiting"
        assert Upkeep(rt.queue).end_waiting() == 2
        assert [status(rt, j.locator) for j in (grandparent, parent, child)] == ["finished"] * 3
        assert marks(rt.db) == {}
        assert Upkeep(rt.queue).end_waiting() == 0


def test_effects_table_is_written_once_per_record_job(database_url: str) -> None:
    with runtime(database_url) as rt, worker(rt):
        locators = enqueue(rt, *[new(RECORD) for _ in range(10)])
        settle(rt)
        assert sorted(locator for locator, _, _ in effects(rt.db)) == sorted(locators)
        with rt.db.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM jobs WHERE status = 'finished'"))
            assert count.scalar() == 10
