"""The engine's own meaning of an operator's retry and cancel, for a kind that gives none
(`JobKind.retry`, `JobKind.cancel`), and the reasons a job is skipped that every kind
shares. A kind's own action may do its part and then call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.jobs import JobStatus
from policyjobs.engine.queue import JobQueue
from policyjobs.engine.registry import Verdicts

UNSTARTED = (JobStatus.QUEUED, JobStatus.BLOCKED, JobStatus.WAITING)
ENDED = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED)
CHANGED = "changed meanwhile"  # the job moved on between its batch's read and its action


def not_failed(row: Any) -> str:
    """Why a retry skips a job that has not failed."""
    return f"not failed: {row.status}"


def not_cancellable(row: Any) -> str:
    """Why a cancel skips a job that is running or has ended."""
    if row.status in ENDED:
        return f"already ended: {row.status}"
    return "running: a worker holds it"


def outcome(asked: Iterable[str], done: Iterable[str]) -> Verdicts:
    """The verdicts of the jobs `asked` of which `done` were acted on."""
    did = set(done)
    return {locator: None if locator in did else CHANGED for locator in asked}


def requeue_failed(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """The engine's retry: each failed job runs again now, with one more attempt."""
    failed = [row.locator for row in rows if row.status == JobStatus.FAILED]
    return {**{row.locator: not_failed(row) for row in rows},
            **outcome(failed, queue.requeue(conn, failed))}


def cancel_unstarted(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """The engine's cancel: each job not started is cancelled (a waiting parent, though its
    children run on)."""
    unstarted = [row.locator for row in rows if row.status in UNSTARTED]
    return {**{row.locator: not_cancellable(row) for row in rows},
            **outcome(unstarted, queue.cancel(conn, unstarted))}
