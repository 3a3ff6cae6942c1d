"""The engine's Prometheus counters, labelled by job kind."""

from prometheus_client import Counter

ENQUEUED = Counter("policyjobs_jobs_enqueued", "Jobs enqueued.", ["kind"])
STARTED = Counter("policyjobs_jobs_started", "Job attempts started.", ["kind"])
FINISHED = Counter("policyjobs_jobs_finished", "Job attempts that succeeded.", ["kind"])
FAILED = Counter("policyjobs_jobs_failed", "Jobs that failed for good.", ["kind"])
RETRIED = Counter("policyjobs_jobs_retried", "Failed attempts queued again.", ["kind"])
RESCUED = Counter("policyjobs_jobs_rescued", "Jobs taken back from a worker that died.", ["kind"])
