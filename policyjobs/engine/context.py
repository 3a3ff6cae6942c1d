"""What a job's handler is given."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from policyjobs.engine.clock import Clock
from policyjobs.engine.jobs import ClaimedJob
from policyjobs.engine.queue import JobQueue


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler gets: its job, the store, the clock and the queue for follow-ups."""

    job: ClaimedJob
    db: sa.Engine
    clock: Clock
    queue: JobQueue
    # This attempt ran once already, in a batch (`JobKind.batch`) that raised: what the
    # batch did was undone, unless its commit was lost on the way back. A handler that at
    # attempt 1 skips looking for what an earlier run made must look.
    again: bool = False
