"""The engine's Prometheus metrics: counters by job kind, the queue's depth and lag, and the
kinds paused.

The counters count what this process did. The queue's gauges are read from the store
when scraped, at most every few seconds, from the oldest due jobs only, so a scrape costs
the same whatever the backlog.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class ByKind:
    """A counter's child per job kind, looked up once: `labels()` is costly on a hot path."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._children: dict[str, Any] = {}

    def inc(self, kind: str, count: int = 1) -> None:
        """Count `count` for `kind`."""
        child = self._children.get(kind)
        if child is None:
            child = self._children[kind] = self._counter.labels(kind)
        child.inc(count)

    def inc_each(self, kinds: Iterable[str]) -> None:
        """Count one for each kind in `kinds`, one counter update per distinct kind."""
        for kind, count in collections.Counter(kinds).items():
            self.inc(kind, count)


ENQUEUED = ByKind(Counter("policyjobs_jobs_enqueued", "Jobs enqueued.", ["kind"]))
STARTED = ByKind(Counter("policyjobs_jobs_started", "Job attempts started.", ["kind"]))
FINISHED = ByKind(Counter("policyjobs_jobs_finished", "Job attempts that succeeded.", ["kind"]))
FAILED = ByKind(Counter("policyjobs_jobs_failed", "Jobs that failed for good.", ["kind"]))
RETRIED = ByKind(Counter("policyjobs_jobs_retried", "Failed attempts queued again.", ["kind"]))
RESCUED = ByKind(Counter("policyjobs_jobs_rescued", "Jobs taken back from a dead worker.",
                          ["kind"]))
TIMED_OUT = ByKind(Counter("policyjobs_jobs_timed_out",
                           "Jobs that ran out of time and wait for a retrigger.", ["kind"]))

DEPTH_SAMPLE = 10_000  # the oldest due jobs a scrape looks at, at most


class Sample(NamedTuple):
    """What a scrape reads of the store: (kind, count, oldest run-at) among the
    `DEPTH_SAMPLE` oldest due jobs, and the pauses, as (kind, tenant or `*`)."""

    depth: list[tuple[str, int, datetime]]
    paused: list[tuple[str, str]]


class QueueCollector(Collector):
    """The due, queued jobs by kind, how long the oldest of each has waited, and the kinds
    paused. The depth is capped at `DEPTH_SAMPLE`; what `read` returns is kept for `ttl`
    seconds.
    """

    def __init__(self, read: Callable[[], Sample], now: Callable[[], datetime],
                 kinds: Callable[[], tuple[str, ...]], ttl: float = 5.0) -> None:
        self._read, self._now, self._kinds, self._ttl = read, now, kinds, ttl
        self._lock = threading.Lock()
        self._cached = Sample([], [])
        self._read_at = float("-inf")

    def collect(self) -> Iterator[Metric]:
        """The gauge families, from the store or the cache."""
        with self._lock:
            if time.monotonic() - self._read_at > self._ttl:
                try:
                    self._cached = self._read()
                except sa.exc.DBAPIError:
                    self._cached = Sample([], [])  # the store is down: /health says so
                self._read_at = time.monotonic()
            sample = self._cached
        found = {kind: (count, oldest) for kind, count, oldest in sample.depth}
        depth = GaugeMetricFamily("policyjobs_queue_depth",
                                  f"Due jobs waiting for a worker (counted up to {DEPTH_SAMPLE}).",
                                  labels=["kind"])
        lag = GaugeMetricFamily("policyjobs_queue_oldest_due_seconds",
                                "How long the oldest due job has waited.", labels=["kind"])
        now = self._now()
        for kind in sorted({*self._kinds(), *found}):
            count, oldest = found.get(kind, (0, now))
            depth.add_metric([kind], count)
            lag.add_metric([kind], max((now - oldest).total_seconds(), 0.0))
        yield depth
        yield lag
        paused = GaugeMetricFamily("policyjobs_paused",
                                   "Kinds paused (1), for a tenant or for all (tenant \"*\").",
                                   labels=["kind", "tenant"])
        for kind, tenant in sample.paused:
            paused.add_metric([kind, tenant], 1)
        yield paused

