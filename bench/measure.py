"""How every system is measured, in the same way: a session (a fresh store, the system's own
worker processes started and idle, the enqueuing connection already open), then one timed
run in it.

- `throughput`: the clock starts at the first enqueue, in transactions of 1,000 jobs while
  the workers drain, and stops when a poll every 20 ms finds nothing unfinished.
- `drain`: the whole run is enqueued in one transaction first; the clock starts when it
  has committed and stops when the queue is empty.
- `latency`: enqueue→handler start, written by the handler itself (bench/stamps.py): idle
  (one job at a time, a random 5 to 50 ms apart) and under a paced load.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import stamps
from bench.common import (
    POLL_SECONDS,
    RUN_TIMEOUT,
    BenchError,
    CpuMeter,
    MemoryMeter,
    RunResult,
    Workers,
    latency_summary,
    postgres_processes,
    say,
)
from policyjobs.testing.waiting import wait_until

ENQUEUE_BATCH = 1000
PACED_TRANSACTIONS = 100  # per second, under a paced load


@dataclass
class Session:
    """One system, ready to be timed."""

    system: str  # "ours/postgresql", "ours/sqlite", "pgqueuer", "procrastinate"
    config: dict[str, Any]
    enqueue: Callable[[int, bool], None]  # (jobs, stamped): one transaction
    unfinished: Callable[[], bool]  # whether anything is queued or running
    succeeded: Callable[[], int]  # how many jobs have succeeded
    workers: Workers
    postmaster: int | None  # PostgreSQL's, for the CPU it spends
    stamps: Path  # where the handlers write their latency stamps


def stamps_folder(root: Path, name: str) -> Path:
    """A fresh folder for a session's stamps."""
    folder = root / f"stamps-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    stamps.clear(folder)
    return folder


@contextmanager
def timed_run(session: Session, jobs: int, kind: str) -> Iterator[RunResult]:
    """A result for `jobs` jobs of `session`, checked when the block ends: every job must
    have succeeded, and the CPU of the workers, PostgreSQL and this process is recorded."""
    result = RunResult(session.system, dict(session.config), jobs, 0.0, kind=kind)
    meter = CpuMeter(lambda: session.workers.pids, session.postmaster)
    # Sampled as the run starts and as it ends only (the kernel keeps each process's peak
    # RSS itself): a sample in between would take CPU and the GIL from the enqueuer.
    memory = MemoryMeter({"worker": lambda: session.workers.pids,
                          "enqueuer": lambda: [os.getpid()],
                          "postgres": lambda: postgres_processes(session.postmaster)},
                         every=RUN_TIMEOUT)
    yield result
    result.cpu_workers_s, result.cpu_postgres_s, result.cpu_bench_s = meter.stop()
    result.memory = memory.stop()
    done = session.succeeded()
    if done != jobs:
        raise BenchError(f"{done} of {jobs} jobs succeeded")


def _drained(session: Session) -> None:
    wait_until(lambda: not session.unfinished(), timeout=RUN_TIMEOUT,
               what=f"{session.system} to drain", check=session.workers.check,
               interval=POLL_SECONDS)


def throughput(session: Session, jobs: int) -> RunResult:
    """Enqueue `jobs` in transactions of 1,000 while the workers drain them; the rate."""
    with timed_run(session, jobs, "throughput") as result:
        start = time.perf_counter()
        left = jobs
        while left > 0:
            size = min(ENQUEUE_BATCH, left)
            session.enqueue(size, False)
            left -= size
        result.enqueue_seconds = time.perf_counter() - start
        _drained(session)
        result.seconds = time.perf_counter() - start
    return result


def drain(session: Session, jobs: int) -> RunResult:
    """Enqueue `jobs` in one transaction, then time the idle workers draining them."""
    with timed_run(session, jobs, "drain") as result:
        filled = time.perf_counter()
        session.enqueue(jobs, False)  # nothing is visible to the workers until it commits
        start = time.perf_counter()
        result.enqueue_seconds = start - filled
        _drained(session)
        result.seconds = time.perf_counter() - start
    return result


def latency(session: Session, idle_samples: int, rate: float,
            loaded_samples: int) -> dict[str, float]:
    """Enqueue→handler start in ms: idle, then under a paced load of `rate` jobs/s that
    lasts long enough for `loaded_samples` jobs."""
    folder = session.stamps
    stamps.clear(folder)
    for made in range(1, idle_samples + 1):
        session.enqueue(1, True)

        def started(n: int = made) -> bool:
            return stamps.count(folder) >= n

        wait_until(started, timeout=30, what="an idle job to start",
                   check=session.workers.check, interval=0.0005)
        # Every worker back to waiting, for a random while, so that no polling or timer
        # of any system can fall into step with the benchmark.
        time.sleep(random.uniform(0.005, 0.05))
    _drained(session)
    summary = latency_summary("idle", stamps.read(folder))
    stamps.clear(folder)
    seconds = max(5.0, loaded_samples / rate * 1.1)
    say(f"  {session.system}: paced load of {rate:,.0f} jobs/s for {seconds:.0f} s")
    sent = _paced(session, rate, seconds)
    _drained(session)
    wait_until(lambda: stamps.count(folder) >= sent, timeout=30, what="every stamp",
               check=session.workers.check)
    summary |= latency_summary("loaded", stamps.read(folder))
    summary["loaded_rate_per_s"] = round(rate, 1)
    return summary


def _paced(session: Session, rate: float, seconds: float) -> int:
    """Enqueue stamped jobs at `rate` a second for `seconds`, in 100 transactions a second;
    how many were sent."""
    batch = max(1, round(rate / PACED_TRANSACTIONS))
    start = time.perf_counter()
    sent = 0
    while (now := time.perf_counter()) - start < seconds:
        due = start + sent / rate
        if due > now:
            time.sleep(due - now)
        session.enqueue(batch, True)
        sent += batch
    return sent
