"""What retrying and cancelling do to a batch of jobs: each kind's own (`JobKind.retry`,
`JobKind.cancel`) where it has one, else the engine's (`engine.actions`).

A job the action does not apply to is skipped, with the reason it is counted under: a
retry takes failed jobs (and a kind may take others, as documents take timed-out ones);
a cancel takes jobs not started (queued, blocked, or waiting on their children).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import JobQueue
from policyjobs.engine.actions import cancel_unstarted, requeue_failed
from policyjobs.engine.errors import UnknownJobKind
from policyjobs.engine.registry import Action, Verdicts
from policyjobs.operations.models import CANCEL, RETRY


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
