"""What retrying and cancelling do to a batch of jobs: each kind's own (`JobKind.retry`,
`JobKind.cancel`) where it has one, else the engine's.

A job the action does not apply to is skipped, with the reason it is counted under: a
retry takes failed jobs (and a kind may take others, as documents take timed-out ones);
a cancel takes jobs not started (queued, blocked, or waiting on their children).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import JobQueue, JobStatus
from policyjobs.engine.errors import UnknownJobKind
from policyjobs.engine.registry import Action, Verdicts
from policyjobs.operations.models import CANCEL, RETRY

UNSTARTED = (JobStatus.QUEUED, JobStatus.BLOCKED, JobStatus.WAITING)
ENDED = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED)


def not_failed(row: Any) -> str:
    """Why a retry skips a job that has not failed."""
    return f"not failed: {row.status}"


def not_cancellable(row: Any) -> str:
    """Why a cancel skips a job that is running or has ended."""
    if row.status in ENDED:
        return f"already ended: {row.status}"
    return "running: a worker holds it"


def requeue_failed(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """The engine's retry: each failed job runs again now, with one more attempt."""
    verdicts: Verdicts = {row.locator: not_failed(row) for row in rows}
    failed = [row.locator for row in rows if row.status == JobStatus.FAILED]
    requeued = set(queue.requeue(conn, failed))
    verdicts.update({locator: None if locator in requeued else "changed meanwhile"
                     for locator in failed})
    return verdicts


def cancel_unstarted(conn: sa.Connection, queue: JobQueue, rows: Sequence[Any]) -> Verdicts:
    """The engine's cancel: each job not started is cancelled (a waiting parent, though its
    children run on)."""
    verdicts: Verdicts = {row.locator: not_cancellable(row) for row in rows}
    unstarted = [row.locator for row in rows if row.status in UNSTARTED]
    cancelled = set(queue.cancel(conn, unstarted))
    verdicts.update({locator: None if locator in cancelled else "started meanwhile"
                     for locator in unstarted})
    return verdicts


def act(conn: sa.Connection, queue: JobQueue, action: str, rows: Sequence[Any]) -> Verdicts:
    """Do `action` (RETRY or CANCEL) to `rows`, a kind at a time, in `conn`'s transaction."""
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_kind[row.kind].append(row)
    verdicts: Verdicts = {}
    for kind, mine in sorted(by_kind.items()):
        verdicts.update(_action(queue, kind, action)(conn, queue, mine))
    return verdicts


def _action(queue: JobQueue, kind: str, action: str) -> Action:
    try:
        found = queue.registry.kind(kind)
    except UnknownJobKind:
        return _refuse(f"kind {kind} is not served by this process")
    if action == RETRY:
        if found.unretriable:
            return _refuse(found.unretriable)
        return found.retry or requeue_failed
    if action == CANCEL:
        return found.cancel or cancel_unstarted
    raise ValueError(f"no action {action!r}")


def _refuse(reason: str) -> Action:
    def refuse(conn: sa.Connection, queue: Any, rows: Sequence[Any]) -> Verdicts:
        return {row.locator: reason for row in rows}
    return refuse
