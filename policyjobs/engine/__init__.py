"""A durable job queue over one SQL table, knowing nothing of insurance."""

from policyjobs.engine.clock import Clock, ClockTooFar, SystemClock, TestClock
from policyjobs.engine.context import JobContext
from policyjobs.engine.errors import EngineError, PermanentJobError, Postpone
from policyjobs.engine.ids import NIL_UUID, new_locator
from policyjobs.engine.jobs import (
    ACTIVE_STATUSES,
    ClaimedJob,
    Ending,
    JobStatus,
    Lane,
    NewJob,
    PublicStatus,
    public_status,
)
from policyjobs.engine.queue import JobQueue
from policyjobs.engine.registry import Duty, EndListener, JobKind, Registry
from policyjobs.engine.schema import READ_ONLY

__all__ = [
    "ACTIVE_STATUSES",
    "NIL_UUID",
    "READ_ONLY",
    "ClaimedJob",
    "Clock",
    "ClockTooFar",
    "Duty",
    "EndListener",
    "Ending",
    "EngineError",
    "JobContext",
    "JobKind",
    "JobQueue",
    "JobStatus",
    "Lane",
    "NewJob",
    "PermanentJobError",
    "Postpone",
    "PublicStatus",
    "Registry",
    "SystemClock",
    "TestClock",
    "new_locator",
    "public_status",
]
