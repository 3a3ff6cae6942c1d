"""The scheduler's periodic duties, run by whichever process holds the leadership.

Every process that runs workers also runs an `Upkeep`; at each tick it tries to
take or keep the `scheduler` leadership (a row in `engine_leaders` with an
expiry), and only the leader rescues, prunes and runs the domains' duties.

Between ticks, the leader also answers the queue's wake-ups (a commit that enqueued, the
test clock moved, here or in another process) by making the jobs of the schedules that have
come due, so a jump of the clock does not wait for the next tick to start its runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
import structlog

from policyjobs.engine import metrics
from policyjobs.engine.calendar import Daily
from policyjobs.engine.clock import wall_now
from policyjobs.engine.ids import NIL_UUID
from policyjobs.engine.jobs import JobStatus, NewJob
from policyjobs.engine.queue import JobQueue
from policyjobs.engine.schedules import CATCH_UP, DUE_AT_ONCE
from policyjobs.engine.schema import engine_schedules
from policyjobs.engine.worker import worker_name

log = structlog.get_logger("policyjobs.upkeep")

LEADERSHIP = "scheduler"
WAKE_GAP = 0.05  # seconds between two schedule rounds that wake-ups start, at least


class Upkeep:
    """Rescue, prune and domain duties, in one elected process at a time."""

    def __init__(self, queue_: JobQueue, *, name: str | None = None) -> None:
        self.queue = queue_
        self.name = name or worker_name()
        self._stop = threading.Event()
        self._woken = threading.Event()
        self._thread = threading.Thread(target=self._run, name="policyjobs-upkeep", daemon=True)
        self._last_run: dict[str, float] = {}
        self.leading = False

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking and hand the leadership back."""
        self._stop.set()
        self._woken.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self.leading:
            try:
                with self.queue.db.begin() as conn:
                    self.queue.backend.resign(conn, name=LEADERSHIP, owner=self.name)
            except sa.exc.DBAPIError:
                pass  # the lease expires on its own
            self.leading = False

    def _run(self) -> None:
        every = self.queue.settings.upkeep.total_seconds()
        self.queue.wakeup.subscribe(self._woken)
        try:
            next_tick = 0.0
            while not self._stop.is_set():
                if time.monotonic() >= next_tick:
                    self._guarded(self.tick)
                    next_tick = time.monotonic() + every
                elif self.leading:
                    self._guarded(self.fire_schedules)
                self._woken.wait(max(next_tick - time.monotonic(), 0))
                self._woken.clear()
                self._stop.wait(WAKE_GAP)
        finally:
            self.queue.wakeup.unsubscribe(self._woken)

    @staticmethod
    def _guarded(duty: Callable[[], object]) -> None:
        try:
            duty()
        except sa.exc.DBAPIError as exc:
            log.warning("upkeep could not reach the store", error=str(exc).splitlines()[0])
        except Exception:
            log.exception("upkeep duty failed")

    def fire_schedules(self) -> None:
        """Make the jobs of the schedules that have come due."""
        fire_due(self.queue, self.queue.clock.now())  # enqueueing wakes the workers

    def tick(self) -> None:
        """One round: lead, then rescue, prune and run each duty that is due."""
        if not self._lead():
            return
        self.rescue()
        self.fire_schedules()
        self._unblock_stalled()
        if self._due("end waiting", self.queue.settings.heartbeat.total_seconds()):
            self.end_waiting()
        self._prune()
        for duty in self.queue.registry.duties:
            if self._due(duty.name, duty.every.total_seconds()):
                duty.run(self.queue, self.queue.clock.now())

    def _lead(self) -> bool:
        # The leadership outlives a few missed ticks, so a slow tick does not lose it.
        until = wall_now() + max(self.queue.settings.upkeep * 5, self.queue.settings.lease)
        with self.queue.db.begin() as conn:
            leading = self.queue.backend.lead(
                conn, name=LEADERSHIP, owner=self.name, until=until, wall_now=wall_now()
            )
        if leading != self.leading:
            log.info("scheduler leadership " + ("taken" if leading else "lost"), owner=self.name)
        self.leading = leading
        return leading

    def rescue(self) -> int:
        """Take back jobs whose worker stopped heartbeating; the number taken back."""
        total = 0
        while True:
            now = self.queue.clock.now()
            with self.queue.db.begin() as conn:
                rows = self.queue.backend.rescue(conn, now=now, wall_now=wall_now())
                failed = [(locator, parent) for locator, _, status, parent, _ in rows
                          if status == JobStatus.FAILED]
                parents = self.queue.backend.resolve_waiting(
                    conn, [parent for _, parent in failed if parent], now)
                self.queue.tell_ended(conn, [*(locator for locator, _ in failed), *parents])
                if rows:
                    self.queue.wake(conn)
            for locator, kind, status, _, tenant in rows:
                metrics.RESCUED.inc(kind)
                log.warning("rescued job from a dead worker", tenant=tenant, job=locator,
                            kind=kind, status=status)
            total += len(rows)
            if len(rows) < 500:
                return total

    def end_waiting(self) -> int:
        """End the waiting parents whose children have all ended: those whose last child's
        worker died before it ended them (on PostgreSQL a worker ends them after its turn
        commits), or whose last children ended on two paths at once, one of them outside
        a worker (an operator's cancel beside a worker's turn). The number ended."""
        after, total = 0, 0
        while True:
            with self.queue.db.begin() as conn:
                found = self.queue.backend.waiting(conn, after)
                ended = self.queue.end_parents(conn, [locator for _, locator in found])
            if ended:
                log.info("ended waiting parents", count=len(ended))
            total += len(ended)
            if len(found) < 1000:
                return total
            after = found[-1][0]

    def _due(self, name: str, every: float) -> bool:
        """Whether the duty `name`, run every `every` seconds, is due; if so, it runs now."""
        last = self._last_run.get(name, float("-inf"))
        if time.monotonic() - last < every:
            return False
        self._last_run[name] = time.monotonic()
        return True

    def _unblock_stalled(self) -> None:
        """Queue blocked jobs whose predecessors ended on a path that did not unblock them."""
        with self.queue.db.begin() as conn:
            if self.queue.backend.unblock_stalled(conn, self.queue.clock.now()):
                self.queue.wake(conn)

    def _prune(self) -> None:
        keep = self.queue.settings.prune_after
        if keep is None or not self._due("prune", 60):
            return
        before = self.queue.clock.now() - keep
        while True:
            with self.queue.db.begin() as conn:
                deleted = self.queue.backend.prune(conn, before)
            if deleted:
                log.info("pruned finished jobs", count=deleted, before=before.isoformat())
            if deleted < 1000:
                return


def fire_due(queue: JobQueue, now: datetime) -> int:
    """Make the jobs of every schedule's occurrences that have come (`schedules`), oldest
    first, each once whichever process leads; how many were made."""
    made = 0
    with queue.db.begin() as conn:
        due = conn.execute(
            sa.select(engine_schedules).where(engine_schedules.c.next_at <= now)
            .order_by(engine_schedules.c.next_at).limit(DUE_AT_ONCE)
            .with_for_update(skip_locked=True)).all()
        for row in due:
            every = Daily.parse(row.time_of_day, row.timezone)
            occurrences: list[datetime] = []
            at = row.next_at
            while at <= now and len(occurrences) < CATCH_UP:
                occurrences.append(at)
                at = every.next_after(at)
            queue.enqueue(conn, [
                NewJob(row.kind, row.tenant, {**row.payload, "scheduledFor": when.isoformat()},
                       reference_type="schedule", reference_locator=row.locator, run_at=when,
                       dedupe_key=f"{row.key}@{when.isoformat()}", ordered_key=row.key,
                       created_by=NIL_UUID)
                for when in occurrences])
            conn.execute(engine_schedules.update().where(engine_schedules.c.key == row.key)
                         .values(next_at=at))
            made += len(occurrences)
    return made
