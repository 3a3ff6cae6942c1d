"""A worker process's job loop: claim a batch, run it on threads, record outcomes in a batch.

`_loop` → `_turn` (record the finished attempts, then claim, in one transaction) on one
thread, with the handlers on a pool of threads, and two side threads: the heartbeat and the
listener (PostgreSQL `LISTEN`, or a watcher of the SQLite file). A turn's jobs of a kind
that runs in batches (`JobKind.batch`) go to the handler threads in groups of one tenant,
split so that every idle thread has work.
"""

from __future__ import annotations

import math
import os
import queue
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog

from policyjobs.engine import metrics
from policyjobs.engine.backend import Completed, json_text
from policyjobs.engine.clock import wall_now
from policyjobs.engine.context import JobContext
from policyjobs.engine.errors import PermanentJobError, Postpone
from policyjobs.engine.fairness import Rotation
from policyjobs.engine.jobs import NEVER, ClaimedJob, Ending, JobStatus, Outcome
from policyjobs.engine.listener import Waker
from policyjobs.engine.queue import JobQueue

log = structlog.get_logger("policyjobs.worker")

# The job a handler thread is running, or the batch (a list: one kind and tenant). One
# context variable, read only when a line is logged: binding the job's fields as structlog
# context variables cost more than a no-op job's whole run.
_running: ContextVar[ClaimedJob | list[ClaimedJob] | None] = ContextVar(
    "policyjobs_running_job", default=None)


def job_fields(_logger: Any, _method: str,
               event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the running job's tenant, locator, kind and attempt on every
    line logged while it runs; a batch's tenant, kind and job locators."""
    running = _running.get()
    if isinstance(running, list):
        event.setdefault("tenant", running[0].tenant)
        event.setdefault("kind", running[0].kind)
        event.setdefault("jobs", [job.locator for job in running])
    elif running is not None:
        event.setdefault("tenant", running.tenant)
        event.setdefault("job", running.locator)
        event.setdefault("kind", running.kind)
        event.setdefault("attempt", running.attempt)
    return event


class ClaimAhead:
    """How many jobs a worker claims beyond its free handler threads.

    Claiming ahead keeps threads busy between claims, but every job claimed and not yet
    started is stranded until its lease expires if the worker dies. So the worker
    claims about `SECONDS` of work ahead, by the running mean of its jobs' durations:
    a whole batch of jobs that take microseconds, one or two renders that take a second.
    """

    SECONDS = 0.05  # of work claimed ahead: a few round trips of the claim loop
    WEIGHT = 0.2  # of each new duration in the running mean

    def __init__(self, concurrency: int, batch_size: int) -> None:
        self._concurrency = concurrency
        self._most = batch_size
        self._mean: float | None = None

    def observe(self, seconds: float) -> None:
        """Take one job's duration into the mean (a lost update under a race is harmless)."""
        mean = self._mean
        self._mean = seconds if mean is None else mean + self.WEIGHT * (seconds - mean)

    @property
    def jobs(self) -> int:
        """Jobs to claim ahead: as many as the threads get through in `SECONDS`, at least
        one and at most a batch; one per thread until a duration is known."""
        mean = self._mean
        if mean is None:
            return min(self._concurrency, self._most)
        if mean <= 0:
            return self._most
        return max(1, min(self._most, math.ceil(self._concurrency * self.SECONDS / mean)))


# What a handler thread takes from its queue: a job, several of one kind and tenant to run
# as a batch, or None to stop.
Work = ClaimedJob | list[ClaimedJob] | None


def worker_name() -> str:
    """A name unique to this worker: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Runs jobs from `queue` on `concurrency` threads until stopped."""

    BATCH_MOST = 32  # jobs run as one batch (`JobKind.batch`), at most

    def __init__(self, queue_: JobQueue, *, concurrency: int | None = None,
                 name: str | None = None) -> None:
        self.queue = queue_
        self.settings = queue_.settings
        self.concurrency = concurrency or self.settings.concurrency
        self.name = name or worker_name()
        # Kinds with threads of their own (`JobKind.threads`) each have a queue of their
        # jobs and their threads; every other kind's jobs go to `_pending`.
        self._own = {kind: (queue.SimpleQueue[Work](), threads)
                     for kind, threads in queue_.registry.own_threads.items()}
        self._own_threads = sum(threads for _, threads in self._own.values())
        self._ahead = ClaimAhead(self.concurrency, self.settings.batch_size)
        self._rotation = Rotation()  # how this worker's claims share slots (see `fairness`)
        self._signal = threading.Event()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._pending: queue.SimpleQueue[Work] = queue.SimpleQueue()
        self._batched = queue_.registry.batched
        self._done: deque[Outcome] = deque()
        self._held: dict[int, ClaimedJob] = {}  # claimed and not yet recorded
        self._started: set[int] = set()
        self._held_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listener: Waker | None = None
        self._grace = self.settings.shutdown_grace

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop, the handler threads, the heartbeat and the listener."""
        self.queue.wakeup.subscribe(self._signal)
        self._listener = Waker.for_engine(self.queue.db, self._signal)
        if self._listener:
            self._listener.start()
        targets: list[tuple[Callable[[], None], str]] = [
            (self._loop, "loop"), (self._heartbeat, "heartbeat")]
        targets += [(partial(self._execute_forever, self._pending), f"handler-{i}")
                    for i in range(self.concurrency)]
        targets += [(partial(self._execute_forever, pending), f"{kind}-{i}")
                    for kind, (pending, threads) in self._own.items() for i in range(threads)]
        for target, label in targets:
            thread = threading.Thread(target=target, name=f"policyjobs-{label}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker started", worker=self.name, concurrency=self.concurrency)

    def stop(self, grace: timedelta | None = None) -> None:
        """Stop claiming, let running jobs finish for `grace`, then release what is left."""
        if grace is not None:
            self._grace = grace
        self._stopping.set()
        self._signal.set()
        if self._threads:
            self._stopped.wait(self._grace.total_seconds() + 5)
        self.queue.wakeup.unsubscribe(self._signal)
        if self._listener:
            self._listener.stop()
        for _ in range(self.concurrency):
            self._pending.put(None)
        for pending, threads in self._own.values():
            for _ in range(threads):
                pending.put(None)
        log.info("worker stopped", worker=self.name)

    # -- the loop ---------------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            with self.queue.db.connect() as conn, self._claims_alone() as alone:
                while not self._stopping.is_set():
                    self._signal.clear()
                    if not self._turn(conn, claim=True, alone=alone):
                        self._signal.wait(self.settings.poll.total_seconds())
                self._drain(conn)
        finally:
            self._stopped.set()

    @contextmanager
    def _claims_alone(self) -> Iterator[sa.Connection | None]:
        """A connection that commits each statement, for turns that only claim, where each
        statement of the claim stands on its own: an idle worker woken by one job claims it
        in one or two round trips (no BEGIN, no COMMIT), which is most of the way from
        enqueue to handler. It is closed at the end, not pooled: the backend
        may have tuned its session."""
        if not self.queue.backend.claims_alone:
            yield None
            return
        with self.queue.db.connect() as alone:
            try:
                yield alone.execution_options(isolation_level="AUTOCOMMIT")
            finally:
                alone.invalidate()

    def _turn(self, conn: sa.Connection, *, claim: bool,
              alone: sa.Connection | None = None) -> bool:
        """Record every finished attempt and (if `claim`) claim what there is room for, in
        one transaction: one commit a turn (a turn that only claims runs on `alone`, if
        given). Whether to turn again at once: the claim took all it asked for, so more may
        be due, or it left capped tenants to a claim in a transaction; otherwise the next
        turn waits for a wake-up (an enqueue, a job done)."""
        outcomes: list[Outcome] = []
        while self._done:
            outcomes.append(self._done.popleft())
        jobs: list[ClaimedJob] = []
        parents: set[str] = set()
        more = False
        # A capped tenant's claim holds its cap in a transaction (see `fairness`).
        alone = alone if not outcomes and not self._rotation.capped else None
        try:
            with (alone or conn).begin():
                if outcomes:
                    parents = self._record(conn, outcomes)
                if claim:
                    jobs, more = self._claim(alone or conn, recorded=len(outcomes))
                    more = more or (alone is not None and self._rotation.capped)
        except Exception as exc:  # never let the loop die with jobs in hand
            self._done.extendleft(reversed(outcomes))  # they wait for the store to come back
            self._store_trouble("record outcomes" if outcomes else "claim", exc)
            return False
        with self._held_lock:
            for outcome in outcomes:
                self._held.pop(outcome.job.id, None)
                self._started.discard(outcome.job.id)
            for job in jobs:
                self._held[job.id] = job
        metrics.STARTED.inc_each(j.kind for j in jobs)
        together: list[ClaimedJob] = []
        for job in jobs:
            if job.kind in self._batched:
                together.append(job)
                continue
            own = self._own.get(job.kind)
            (own[0] if own else self._pending).put(job)
        if together:
            for batch in self._batches(together):
                self._pending.put(batch[0] if len(batch) == 1 else batch)
        if parents:  # the jobs claimed start meanwhile
            self._end_parents(conn, parents)
        return more

    def _batches(self, jobs: Sequence[ClaimedJob]) -> Iterator[list[ClaimedJob]]:
        """`jobs` of kinds that run in batches, grouped by kind and tenant, each group
        split into as many batches as there are idle handler threads (at least one), of
        at most `BATCH_MOST`: split further, the batches would only wait for a thread."""
        groups: dict[tuple[str, str], list[ClaimedJob]] = {}
        for job in jobs:
            groups.setdefault((job.kind, job.tenant), []).append(job)
        busy = len(self._started) - len(self._done) + self._pending.qsize()  # about
        idle = max(1, self.concurrency - busy)
        for group in groups.values():
            size = min(self.BATCH_MOST, math.ceil(len(group) / idle))
            for start in range(0, len(group), size):
                yield group[start:start + size]

    def _claim(self, conn: sa.Connection, *,
               recorded: int) -> tuple[list[ClaimedJob], bool]:
        """Lease as many due jobs as the handler threads have room for, counting the
        `recorded` attempts as gone; and whether that was all it asked for. Jobs of kinds
        with threads of their own take no room while their threads run them: however long
        they take (an endpoint that hangs), the worker goes on claiming for its handler
        threads; those waiting for one of their threads count as any other."""
        capacity = self.concurrency + self._ahead.jobs
        held = len(self._held) - recorded
        if self._own:
            own = sum(1 for job in list(self._held.values()) if job.kind in self._own)
            held -= min(own, self._own_threads)
        free = min(capacity - max(held, 0), self.settings.batch_size)
        if free <= 0:
            return [], False
        jobs = self.queue.backend.claim(conn, owner=self.name, limit=free,
                                        now=self.queue.clock.now(),
                                        lease_until=wall_now() + self.settings.lease,
                                        rotation=self._rotation)
        return jobs, len(jobs) == free

    def _record(self, conn: sa.Connection, outcomes: list[Outcome]) -> set[str]:
        """Record `outcomes` in `conn`'s transaction; the parents left for `_end_parents`
        to look at after it commits, if the store ends them apart."""
        backend, now = self.queue.backend, self.queue.clock.now()
        listened = self.queue.registry.listened
        # The ordered keys of the jobs ending, held before any row, as their enqueuers hold
        # them: an enqueue locks the keys' unfinished jobs, which this turn ends and then
        # unblocks the next of, a row at a time in two steps; held apart, the two deadlocked.
        self.queue.lock_ordered(conn, ((o.job.tenant, o.job.ordered_key) for o in outcomes
                                       if o.job.ordered_key))
        successes = [o for o in outcomes if o.succeeded]
        parents: set[str] = set()
        completed = Completed(set(), set())
        ended: list[ClaimedJob] = []  # jobs that end now, whatever their outcome
        told: list[Ending] = []  # those ended of kinds that listeners are told of
        if successes:
            completed = backend.complete(conn, owner=self.name, outcomes=successes, now=now,
                                         report=any(o.job.kind in listened for o in successes))
            parents |= completed.waiting
        metrics.FINISHED.inc_each(o.job.kind for o in successes)
        for outcome in outcomes:
            job = outcome.job
            if outcome.succeeded:
                if job.locator not in completed.waiting:
                    ended.append(job)
                    if job.kind in listened and job.id in completed.finished:
                        told.append(_ending(job, JobStatus.FINISHED, outcome.result))
            elif outcome.postponed:
                backend.retry(conn, owner=self.name, outcome=outcome,
                              run_at=outcome.until or NEVER, now=now)
                continue
            elif outcome.permanent or job.attempt >= job.max_attempts:
                if backend.fail(conn, owner=self.name, outcome=outcome, now=now) and (
                        job.kind in listened):
                    told.append(_ending(job, JobStatus.FAILED))
                metrics.FAILED.inc(job.kind)
                ended.append(job)
            else:
                delay = self.queue.registry.backoff(job.kind, job.attempt)
                backend.retry(conn, owner=self.name, outcome=outcome, run_at=now + delay, now=now)
                metrics.RETRIED.inc(job.kind)
                continue
            if job.parent_locator:
                parents.add(job.parent_locator)
        backend.unblock(conn, [(j.tenant, j.ordered_key) for j in ended if j.ordered_key], now)
        if backend.ends_parents_apart:
            self.queue.tell_ended(conn, endings=told)
            return parents
        self.queue.tell_ended(conn, backend.resolve_waiting(conn, parents, now), told)
        return set()

    def _end_parents(self, conn: sa.Connection, parents: set[str]) -> None:
        """End the `parents` whose children have all ended, now that the turn that ended
        the last of them (or left the parent waiting) has committed. Out of the turn, the
        children's ends need not wait on a lock of their parent, which every worker ending
        a generation run's instances at once would take in turn (`resolve_waiting`). A
        parent's end may queue the next job of its ordered key (the next run of its
        schedule), which this turn's claim came too early to see: the workers are woken for
        it. If the store fails here, the parents wait for the upkeep's sweep."""
        try:
            with conn.begin():
                self.queue.end_parents(conn, parents)
        except Exception as exc:
            self._store_trouble("end parents", exc)

    def _drain(self, conn: sa.Connection) -> None:
        """At shutdown: release unstarted jobs, wait out the grace, release the rest."""
        deadline = time.monotonic() + self._grace.total_seconds()
        self._release(conn, started=False)
        while self._held and time.monotonic() < deadline:
            self._signal.wait(0.05)
            self._signal.clear()
            self._turn(conn, claim=False)
        self._turn(conn, claim=False)
        self._release(conn, started=True)

    def _release(self, conn: sa.Connection, *, started: bool) -> None:
        """Give back held jobs: those never started, or (after the grace) all the rest."""
        with self._held_lock:
            chosen = [i for i in self._held if started or i not in self._started]
            self._started.update(chosen)  # the handler threads skip these now
        if not chosen:
            return
        try:
            with conn.begin():
                self.queue.backend.release(
                    conn, owner=self.name, now=self.queue.clock.now(),
                    jobs=[(job_id, started) for job_id in chosen],
                )
        except sa.exc.DBAPIError as exc:
            self._store_trouble("release jobs", exc)
        with self._held_lock:
            for job_id in chosen:
                self._held.pop(job_id, None)
        log.info("released jobs", worker=self.name, count=len(chosen), started=started)

    # -- handler threads --------------------------------------------------------------------------

    def _execute_forever(self, pending: queue.SimpleQueue[Work]) -> None:
        while (job := pending.get()) is not None:
            if isinstance(job, list):
                self._execute_together(job)
                continue
            with self._held_lock:
                if job.id in self._started or job.id not in self._held:
                    continue  # released at shutdown before it began
                self._started.add(job.id)
            began = time.perf_counter()
            outcome = self._execute(job)
            self._ahead.observe(time.perf_counter() - began)
            self._done.append(outcome)
            if not self._signal.is_set():  # setting it takes a lock; once a turn will do
                self._signal.set()

    def _execute_together(self, given: list[ClaimedJob]) -> None:
        """Run a batch of jobs (`JobKind.batch`), less any released at shutdown before it
        began, and hand their outcomes to the loop."""
        with self._held_lock:
            jobs = [job for job in given if job.id not in self._started and job.id in self._held]
            self._started.update(job.id for job in jobs)
        if not jobs:
            return
        began = time.perf_counter()
        outcomes = self._execute_batch(jobs) if len(jobs) > 1 else [self._execute(jobs[0])]
        self._ahead.observe((time.perf_counter() - began) / len(jobs))
        self._done.extend(outcomes)
        self._signal.set()

    def _execute(self, job: ClaimedJob, *, again: bool = False) -> Outcome:
        token = _running.set(job)
        try:
            return self._run(job, again=again)
        finally:
            _running.reset(token)

    def _execute_batch(self, jobs: list[ClaimedJob]) -> list[Outcome]:
        """Run `jobs`, of one kind and tenant, through their kind's batch handler; if it
        raises, which undoes the whole batch, run each alone (told it ran `again`). Results
        that are not one JSON value a job fail every job for good, as alone."""
        batch = self.queue.registry.kind(jobs[0].kind).batch
        assert batch is not None
        results: list[Any] | None
        token = _running.set(jobs)  # the lines logged name the batch's tenant, kind and jobs
        try:
            results = list(batch([self._context(job) for job in jobs]))
            if len(results) != len(jobs):
                error = f"the batch handler gave {len(results)} results for {len(jobs)} jobs"
                log.error("batch results do not match its jobs", error=error)
                return [Outcome(job, error=error, permanent=True) for job in jobs]
        except Exception as exc:
            log.info("batch failed; its jobs run alone", error=str(exc) or type(exc).__name__)
            results = None
        finally:
            _running.reset(token)
        if results is None:
            return [self._execute(job, again=True) for job in jobs]
        return [self._outcome(job, result) for job, result in zip(jobs, results, strict=True)]

    def _context(self, job: ClaimedJob, *, again: bool = False) -> JobContext:
        return JobContext(job=job, db=self.queue.db, clock=self.queue.clock, queue=self.queue,
                          again=again)

    def _run(self, job: ClaimedJob, *, again: bool = False) -> Outcome:
        context = self._context(job, again=again)
        try:
            result = self.queue.registry.kind(job.kind).handler(context)
        except Postpone as exc:
            log.info("job postponed", reason=str(exc))
            return Outcome(job, error=str(exc), postponed=True, until=exc.until)
        except PermanentJobError as exc:
            log.warning("job failed for good", error=str(exc))
            return Outcome(job, error=str(exc) or type(exc).__name__, permanent=True)
        except Exception as exc:
            log.warning("job attempt failed", error=str(exc), exc_info=True)
            return Outcome(job, error=f"{type(exc).__name__}: {exc}")
        return self._outcome(job, result)

    @staticmethod
    def _outcome(job: ClaimedJob, result: Any) -> Outcome:
        """A handler's success, or a failure for good if `result` is not JSON."""
        try:
            return Outcome(job, result=json_text(result))
        except TypeError as exc:
            log.error("job result is not JSON", error=str(exc))
            return Outcome(job, error=f"the handler's result is not JSON: {exc}", permanent=True)

    # -- side threads -----------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        every = self.settings.heartbeat.total_seconds()
        while not self._stopped.wait(every):
            if not self._held:
                continue
            try:
                with self.queue.db.begin() as conn:
                    self.queue.backend.heartbeat(
                        conn, owner=self.name, lease_until=wall_now() + self.settings.lease
                    )
            except sa.exc.DBAPIError as exc:
                self._store_trouble("heartbeat", exc)

    def _store_trouble(self, what: str, exc: Exception) -> None:
        if isinstance(exc, sa.exc.DBAPIError):
            log.warning("store unavailable; will retry", worker=self.name, during=what,
                        error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        else:
            log.error("unexpected error; will retry", worker=self.name, during=what,
                      exc_info=exc)
        self._stopping.wait(0.5)


def _ending(job: ClaimedJob, status: JobStatus, result: str | None = None) -> Ending:
    return Ending(job.locator, job.tenant, job.kind, job.reference_type, job.reference_locator,
                  job.attempt, status, result)
