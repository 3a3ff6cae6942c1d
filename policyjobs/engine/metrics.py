"""The engine's Prometheus counters, labelled by job kind."""

from typing import Any

from prometheus_client import Counter


class ByKind:
    """A counter's child per job kind, looked up once: `labels()` is costly on a hot path."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._children: dict[str, Any] = {}

    def inc(self, kind: str) -> None:
        """Count one for `kind`."""
        child = self._children.get(kind)
        if child is None:
            child = self._children[kind] = self._counter.labels(kind)
        child.inc()


ENQUEUED = ByKind(Counter("policyjobs_jobs_enqueued", "Jobs enqueued.", ["kind"]))
STARTED = ByKind(Counter("policyjobs_jobs_started", "Job attempts started.", ["kind"]))
FINISHED = ByKind(Counter("policyjobs_jobs_finished", "Job attempts that succeeded.", ["kind"]))
FAILED = ByKind(Counter("policyjobs_jobs_failed", "Jobs that failed for good.", ["kind"]))
RETRIED = ByKind(Counter("policyjobs_jobs_retried", "Failed attempts queued again.", ["kind"]))
RESCUED = ByKind(Counter("policyjobs_jobs_rescued", "Jobs taken back from a dead worker.",
                          ["kind"]))

