"""Kinds that run in batches (`JobKind.batch`): several jobs of one tenant in one call and
one transaction, each alone when the batch fails."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from policyjobs.domain import Domain
from policyjobs.engine import JobContext, JobKind, NewJob
from policyjobs.engine.worker import job_fields
from tests.support.engine_domain import effects, enqueue, job_rows, runtime, settle, worker

BATCHED = "test.batched"
_EFFECT = sa.text("INSERT INTO test_effects (job_locator, attempt, worker_pid, started, ended) "
                  "VALUES (:locator, :attempt, :pid, :at, :at)")


class Calls:
    """What the batch handler was given, call by call: each call's job locators and
    tenants."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: list[list[tuple[str, str]]] = []

    def note(self, contexts: Sequence[JobContext]) -> None:
        with self.lock:
            self.batches.append([(c.job.locator, c.job.tenant) for c in contexts])


def _write(conn: sa.Connection, context: JobContext) -> dict[str, Any]:
    if context.job.payload.get("bad"):
        raise ValueError("a bad job")
    conn.execute(_EFFECT, {"locator": context.job.locator, "attempt": context.job.attempt,
                           "pid": os.getpid(), "at": time.time()})
    return {"alone": False, "n": context.job.payload["n"]}


def domain(calls: Calls) -> Domain:
    """A kind whose batch writes each job's effect in one transaction, and whose jobs
    alone do the same in a transaction each; a job whose payload says `bad` fails either
    way."""

    def alone(context: JobContext) -> dict[str, Any]:
        with context.db.begin() as conn:
            return {**_write(conn, context), "alone": True}

    def batch(contexts: Sequence[JobContext]) -> list[dict[str, Any]]:
        calls.note(contexts)
        with contexts[0].db.begin() as conn:
            return [_write(conn, context) for context in contexts]

    return Domain(name="batches", kinds=(JobKind(BATCHED, alone, batch=batch,
                                                 max_attempts=1),))


def _new(tenant: str, n: int, **payload: Any) -> NewJob:
    return NewJob(BATCHED, tenant, {"n": n, **payload})


def test_a_workers_claim_runs_in_batches_of_one_tenant(database_url: str) -> None:
    calls = Calls()
    with runtime(database_url, domains=[domain(calls)]) as rt:
        made = enqueue(rt, *[_new("tenant-a", n) for n in range(40)],
                       *[_new("tenant-b", n) for n in range(40, 50)])
        with worker(rt, concurrency=2):
            settle(rt)
        rows = job_rows(rt.db)
        done = effects(rt.db)
    assert [rows[locator]["status"] for locator in made] == ["finished"] * 50
    assert [rows[locator]["result"]["n"] for locator in made] == list(range(50))
    assert sorted(locator for locator, _, _ in done) == sorted(made)  # each once
    assert all(len({tenant for _, tenant in batch}) == 1 for batch in calls.batches)
    assert max(len(batch) for batch in calls.batches) > 1
    batched = {locator for batch in calls.batches for locator, _ in batch}
    assert all(rows[locator]["result"]["alone"] is (locator not in batched) for locator in made)


def test_a_failed_batch_leaves_nothing_and_its_jobs_run_alone(database_url: str) -> None:
    calls = Calls()
    with runtime(database_url, domains=[domain(calls)]) as rt:
        made = enqueue(rt, *[_new("tenant-a", n, bad=n == 3) for n in range(8)])
        with worker(rt, concurrency=1):
            settle(rt)
        rows = job_rows(rt.db)
        done = effects(rt.db)
    bad = made[3]
    [failed] = [batch for batch in calls.batches if any(job == bad for job, _ in batch)]
    assert len(failed) > 1  # the bad job came in a batch, which undid its others' effects
    assert rows[bad]["status"] == "failed"
    assert rows[bad]["errors"][0]["error"] == "ValueError: a bad job"
    good = [locator for locator in made if locator != bad]
    assert [rows[locator]["status"] for locator in good] == ["finished"] * 7
    assert sorted(locator for locator, _, _ in done) == sorted(good)  # each once
    assert all(rows[locator]["result"]["alone"] for locator, _ in failed if locator != bad)


def test_jobs_of_a_batch_that_raised_after_committing_run_alone_told_so(
        database_url: str) -> None:
    """A batch whose work committed but which raised anyway (its commit's answer lost, say)
    runs each job alone at the same attempt, with `again` set, so a handler that trusts
    attempt 1 to find nothing done looks."""

    def alone(context: JobContext) -> dict[str, Any]:
        return {"again": context.again, "attempt": context.job.attempt}

    def batch(contexts: Sequence[JobContext]) -> list[dict[str, Any]]:
        with contexts[0].db.begin() as conn:
            for context in contexts:
                _write(conn, context)
        raise ConnectionError("the commit's answer was lost")

    lost = Domain(name="lost", kinds=(JobKind(BATCHED, alone, batch=batch, max_attempts=1),))
    with runtime(database_url, domains=[lost]) as rt:
        made = enqueue(rt, *[_new("tenant-a", n) for n in range(6)])
        with worker(rt, concurrency=1):
            settle(rt)
        rows = job_rows(rt.db)
    assert {(rows[locator]["status"], rows[locator]["result"]["attempt"]) for locator in made} \
        == {("finished", 1)}
    assert any(rows[locator]["result"]["again"] for locator in made)


def test_a_batch_whose_results_do_not_match_its_jobs_fails_them_for_good(
        database_url: str) -> None:
    def batch(contexts: Sequence[JobContext]) -> list[Any]:
        return [None]

    short = Domain(name="short", kinds=(JobKind(BATCHED, lambda _: None, batch=batch),))
    with runtime(database_url, domains=[short]) as rt:
        made = enqueue(rt, *[_new("tenant-a", n) for n in range(6)])
        with worker(rt, concurrency=1):
            settle(rt)
        rows = job_rows(rt.db)
    batched = [locator for locator in made if rows[locator]["status"] == "failed"]
    assert batched  # the jobs of each batch of more than one
    assert all("results for" in rows[locator]["errors"][0]["error"] for locator in batched)
    assert all(rows[locator]["attempt"] == 1 for locator in batched)


def test_lines_logged_in_a_batch_name_its_tenant_kind_and_jobs(database_url: str) -> None:
    """What `job_fields` adds to a line logged on the batch handler's thread: the batch's
    tenant, kind and job locators, and after it, on a job run alone, that job's."""
    logged: list[tuple[list[str], dict[str, Any]]] = []

    def alone(context: JobContext) -> None:
        logged.append(([context.job.locator], dict(job_fields(None, "info", {}))))

    def batch(contexts: Sequence[JobContext]) -> list[None]:
        logged.append(([c.job.locator for c in contexts], dict(job_fields(None, "info", {}))))
        return [None] * len(contexts)

    noted = Domain(name="noted", kinds=(JobKind(BATCHED, alone, batch=batch),))
    with runtime(database_url, domains=[noted]) as rt:
        enqueue(rt, *[_new("tenant-a", n) for n in range(6)])
        with worker(rt, concurrency=1):
            settle(rt)
    assert any(len(locators) > 1 for locators, _ in logged)
    for locators, fields in logged:
        if len(locators) > 1:  # a batch
            assert fields == {"tenant": "tenant-a", "kind": BATCHED, "jobs": locators}
        else:  # a job claimed alone runs through its kind's own handler
            assert fields == {"tenant": "tenant-a", "job": locators[0], "kind": BATCHED,
                              "attempt": 1}
    assert job_fields(None, "info", {}) == {}  # and nothing on this thread
