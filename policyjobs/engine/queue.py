"""The engine's front door: enqueue, cancel, wait for idle, and what workers share."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import event

from policyjobs.engine import metrics, pauses, schedules, tenancy
from policyjobs.engine.backend import Backend
from policyjobs.engine.backends import backend_for
from policyjobs.engine.clock import Clock
from policyjobs.engine.jobs import Ending, JobStatus, Lane, NewJob
from policyjobs.engine.metrics import QueueCollector, Sample
from policyjobs.engine.pauses import Pause
from policyjobs.engine.registry import Registry
from policyjobs.engine.schedules import Schedule
from policyjobs.engine.schema import READ_ONLY, jobs

_WAKE_FLAG = "policyjobs_wake"
_NOTIFIED = "policyjobs_notified"  # this transaction has told other processes' workers


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """How workers lease, poll, batch and upkeep; every process of a service shares them."""

    lease: timedelta = timedelta(seconds=30)
    poll: timedelta = timedelta(seconds=1)
    concurrency: int = 8
    batch_size: int = 100
    upkeep: timedelta = timedelta(seconds=1)
    prune_after: timedelta | None = None
    shutdown_grace: timedelta = timedelta(seconds=30)

    @property
    def heartbeat(self) -> timedelta:
        """How often a worker extends its leases: a third of the lease."""
        return self.lease / 3


class Wakeup:
    """Wakes this process's workers; other processes are woken by the backend's notify."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[threading.Event] = []

    def subscribe(self, signal: threading.Event) -> None:
        """Set `signal` on every wake-up."""
        with self._lock:
            self._events.append(signal)

    def unsubscribe(self, signal: threading.Event) -> None:
        """Stop setting `signal`."""
        with self._lock:
            if signal in self._events:
                self._events.remove(signal)

    def wake(self) -> None:
        """Wake every subscribed worker."""
        with self._lock:
            for signal in self._events:
                signal.set()


class JobQueue:
    """Jobs over one store: enqueue in the caller's transaction, run by `Worker`s."""

    def __init__(self, db: sa.Engine, registry: Registry, clock: Clock,
                 settings: QueueSettings | None = None) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.settings = settings or QueueSettings()
        self.backend: Backend = backend_for(db)
        self.wakeup = Wakeup()
        event.listen(db, "commit", self._on_commit)
        event.listen(db, "rollback", self._on_rollback)
        event.listen(db, "rollback_savepoint", self._on_rollback_savepoint)

    def close(self) -> None:
        """Stop listening to the store's commits."""
        event.remove(self.db, "commit", self._on_commit)
        event.remove(self.db, "rollback", self._on_rollback)
        event.remove(self.db, "rollback_savepoint", self._on_rollback_savepoint)

    def enqueue(self, conn: sa.Connection, jobs: Sequence[NewJob]) -> list[str]:
        """Add `jobs` in `conn`'s open transaction; their locators, in order.

        A job whose dedupe key is already taken is not added again: its
        locator is that of the existing job. A job with an ordered key waits,
        blocked, behind the unfinished jobs of its tenant and key.
        """
        if not jobs:
            return []
        now = self.clock.now()
        attempts = [j.max_attempts or self.registry.default_max_attempts(j.kind) for j in jobs]
        lanes = [int(self.registry.lane(j.kind) if j.lane is None else j.lane) for j in jobs]
        statuses = self._statuses(conn, jobs)
        made = self.backend.insert(conn, jobs, attempts, lanes, statuses, now)
        locators = [j.locator for j in jobs]
        if made < len(jobs):  # some dedupe keys were taken: whose jobs hold them?
            holders = self.backend.holders(conn, jobs)
            locators = [holders[(j.tenant, j.kind, j.dedupe_key)] if j.dedupe_key else j.locator
                        for j in jobs]
        if any(status == JobStatus.QUEUED and (j.run_at is None or j.run_at <= now)
               for j, status in zip(jobs, statuses, strict=True)):
            self.wake(conn)
        metrics.ENQUEUED.inc_each(j.kind for j in jobs)
        return locators

    def _statuses(self, conn: sa.Connection, jobs: Sequence[NewJob]) -> list[str]:
        """Each job's first status: blocked behind an unfinished job of its ordered key
        (one already stored, or one earlier in `jobs`), else queued."""
        keys = {(j.tenant, j.ordered_key) for j in jobs if j.ordered_key}
        if not keys:
            return [JobStatus.QUEUED] * len(jobs)
        taken = self.backend.unfinished_ordered(conn, keys)
        statuses: list[str] = []
        for job in jobs:
            key = (job.tenant, job.ordered_key) if job.ordered_key else None
            statuses.append(JobStatus.BLOCKED if key in taken else JobStatus.QUEUED)
            if key:
                taken.add(key)
        return statuses

    def lock_ordered(self, conn: sa.Connection, keys: Iterable[tuple[str, str]]) -> None:
        """Hold the ordered keys `keys` ((tenant, key) pairs) until `conn`'s transaction ends:
        other enqueuers of them wait, so a domain can read what its new jobs will build on.
        The keys are taken in one order, so two transactions cannot deadlock on them."""
        wanted = set(keys)
        if wanted:
            self.backend.lock_ordered_keys(conn, self.backend.ordered_keys(wanted))

    def schedule(self, conn: sa.Connection, schedule: Schedule) -> str:
        """Create or change a calendar schedule in `conn`'s transaction; its locator."""
        return schedules.save(conn, schedule, self.clock.now())

    def unschedule(self, conn: sa.Connection, key: str) -> None:
        """Stop the schedule `key`."""
        schedules.remove(conn, key)

    def scheduled(self, conn: sa.Connection, keys: Sequence[str]) -> set[str]:
        """Which of `keys` name a schedule."""
        return schedules.existing(conn, keys)

    def configure_tenant(self, conn: sa.Connection, tenant: str, *, max_running: int | None,
                         lanes: Mapping[str, Lane]) -> None:
        """Set how the tenant's jobs are claimed: its cap on jobs running at once (None:
        none) and the lanes of its jobs of some kinds, by kind."""
        tenancy.configure(conn, tenant, max_running=max_running, lanes=lanes)

    def counts(self, conn: sa.Connection, *, tenant: str) -> dict[str, dict[str, int]]:
        """How many jobs of each kind the tenant has, by status."""
        found: dict[str, dict[str, int]] = {}
        for kind, status, count in conn.execute(
                sa.select(jobs.c.kind, jobs.c.status, sa.func.count())
                .where(jobs.c.tenant == tenant).group_by(jobs.c.kind, jobs.c.status)):
            found.setdefault(kind, {})[status] = count
        return found

    def cancel(self, conn: sa.Connection, locators: Iterable[str]) -> list[str]:
        """Cancel the named jobs that have not started; the locators cancelled. Their kinds'
        listeners are told of them, and of the parents they were the last to end."""
        now = self.clock.now()
        cancelled = self.backend.cancel(conn, locators, now)
        ended = self.backend.resolve_waiting(conn, [p for _, p in cancelled if p], now)
        self.tell_ended(conn, [*(locator for locator, _ in cancelled), *ended])
        return [locator for locator, _ in cancelled]

    def end_parents(self, conn: sa.Connection, locators: Iterable[str]) -> list[str]:
        """End the waiting parents among `locators` whose children have all ended, in
        `conn`'s transaction, which began after the ones that ended the children committed
        (`Backend.resolve_waiting`); tell the listeners, and wake the workers for the jobs
        the parents' ordered keys held back. The parents ended."""
        ended = self.backend.resolve_waiting(conn, locators, self.clock.now(), committed=True)
        if ended:
            self.tell_ended(conn, ended)
            self.wake(conn)
        return ended

    def tell_ended(self, conn: sa.Connection, locators: Iterable[str] = (),
                   endings: Sequence[Ending] = ()) -> None:
        """Tell the kinds' listeners (`Registry.listen`) of jobs that just ended, in the
        transaction that ended them: `endings` as they are, the jobs among `locators` as
        the store has them now."""
        if not self.registry.listened:
            return
        found = [*endings, *self.backend.endings(conn, locators, self.registry.listened)]
        if found:
            self.registry.ended(self, conn, found)

    def requeue(self, conn: sa.Connection, locators: Iterable[str],
                lane: Lane | None = None) -> list[str]:
        """Run the named unfinished or failed jobs again now, even from a hung worker, in
        `lane` if given (as when someone waits on them), else in their own.

        A worker still holding one loses its lease: its late outcome is ignored.
        A failed job gets one more attempt, and a parent its failure failed waits for it
        again (`Backend.reopen_parents`).
        """
        requeued = self.backend.requeue(conn, locators, self.clock.now(), lane)
        if requeued:
            self.wake(conn)
        return requeued

    def pause(self, conn: sa.Connection, kind: str, tenant: str) -> tuple[Pause, bool]:
        """Stop claiming jobs of `kind` for `tenant` (`pauses.EVERY_TENANT`: for all) once
        `conn`'s transaction commits; the pause, and whether it is new."""
        return pauses.pause(conn, kind=kind, tenant=tenant, now=self.clock.now())

    def resume(self, conn: sa.Connection, locator: str) -> Pause | None:
        """Lift the pause `locator`, waking the workers; the pause lifted, or None."""
        lifted = pauses.resume(conn, locator)
        if lifted is not None:
            self.wake(conn)
        return lifted

    def pauses(self) -> Sequence[Pause]:
        """Every pause in force, read on a connection of its own that only reads (on SQLite
        it takes no write lock, so it never waits for a writer)."""
        with self.db.execution_options(**{READ_ONLY: True}).connect() as conn:
            return pauses.pauses(conn)

    def wake(self, conn: sa.Connection) -> None:
        """Wake every worker when `conn`'s transaction commits, as after moving the clock:
        this process's, and other processes' by one notification a transaction (an intake
        batch enqueues event by event)."""
        if not conn.info.get(_NOTIFIED):
            self.backend.notify(conn)
            conn.info[_NOTIFIED] = True
        conn.info[_WAKE_FLAG] = True

    def collector(self) -> QueueCollector:
        """A Prometheus collector of this queue's depth and lag by kind, and its pauses."""
        def read() -> Sample:
            with self.db.execution_options(**{READ_ONLY: True}).connect() as conn:
                return Sample(self.backend.queue_depth(conn, self.clock.now()),
                              [(p.kind, p.tenant) for p in pauses.pauses(conn)])

        return QueueCollector(read, self.clock.now, lambda: self.registry.kinds)

    def busy(self) -> bool:
        """Whether a job is executing or due by the clock."""
        with self.db.connect() as conn:
            return self.backend.busy(conn, self.clock.now())

    def wait_idle(self, timeout: timedelta) -> bool:
        """Wait until nothing executes and nothing is due; False if `timeout` passes first."""
        pauses = idle_pauses(timeout)
        while self.busy():
            pause = next(pauses, None)
            if pause is None:
                return False
            time.sleep(pause)
        return True

    def _on_commit(self, conn: sa.Connection) -> None:
        conn.info.pop(_NOTIFIED, None)
        if conn.info.pop(_WAKE_FLAG, False):
            self.wakeup.wake()

    def _on_rollback(self, conn: sa.Connection) -> None:
        # A connection the server dropped has no info to reach (SQLAlchemy would raise in
        # place of the error that dropped it), and nothing of it will commit.
        if not conn.invalidated:
            conn.info.pop(_WAKE_FLAG, None)
            conn.info.pop(_NOTIFIED, None)

    def _on_rollback_savepoint(self, conn: sa.Connection, name: str, context: object) -> None:
        # The notification may have been sent inside the savepoint: the next wake sends one.
        if not conn.invalidated:
            conn.info.pop(_NOTIFIED, None)


SHORT_WAIT = 0.5  # seconds of waiting for idle looked at closely


def idle_pauses(timeout: timedelta) -> Iterator[float]:
    """The pauses between looks at a busy queue by one who waits for it to idle, until
    `timeout` has passed since the first: 10 ms, 20, then 25 for the first half second,
    then doubling to 100 ms. A short wait (a test clock's move of a fortnight, some 65 ms)
    is seen to end within 25 ms, where pauses of up to 100 ms added some 50 ms to each; a
    long one costs a look every 100 ms, as it did."""
    began = time.monotonic()
    deadline, pause = began + timeout.total_seconds(), 0.01
    while time.monotonic() < deadline:
        yield pause
        pause = min(pause * 2, 0.025 if time.monotonic() - began < SHORT_WAIT else 0.1)
