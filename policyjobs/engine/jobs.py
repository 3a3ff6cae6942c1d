"""What a job is: the row the engine enqueues, claims and finishes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from policyjobs.engine.ids import NIL_UUID, new_locator


class JobStatus(enum.StrEnum):
    """The engine's finer states; the API shows them through `public_status`."""

    QUEUED = "queued"
    BLOCKED = "blocked"  # queued behind an unfinished job of its ordered key
    LEASED = "leased"
    WAITING = "waiting"  # the handler is done, its children are not
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PublicStatus(enum.StrEnum):
    """What the Jobs API shows of a job's status."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class Lane(enum.IntEnum):
    """A job's priority: due jobs of a lower lane are claimed first (see `fairness`)."""

    INTERACTIVE = 0  # someone waits on it: a quote's documents, an API trigger
    STANDARD = 1
    BATCH = 2  # a nightly run's work: its invoices, their documents, delinquency events

    @classmethod
    def named(cls, name: str) -> Lane:
        """The lane called `name` (`interactive`, `standard` or `batch`)."""
        return cls[name.upper()]

    @property
    def label(self) -> str:
        """The lane's name as configurations and the dashboard write it."""
        return self.name.lower()


# What a queue row's lane is raised by while its kind is paused (`pauses`): claims, the
# queue's metrics and the idle check look only at the lanes above, so no worker sees it.
PAUSED = 10

ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.BLOCKED, JobStatus.LEASED, JobStatus.WAITING)
# The run-at of a job postponed until requeued: never due by any clock.
NEVER = datetime(9999, 12, 31, tzinfo=UTC)


def public_status(status: str) -> PublicStatus:
    """The spec's `running | finished | failed` for an engine status."""
    if status in ACTIVE_STATUSES:
        return PublicStatus.RUNNING
    if status == JobStatus.FAILED:
        return PublicStatus.FAILED
    return PublicStatus.FINISHED


@dataclass(slots=True)
class NewJob:
    """A job to enqueue; `locator` is made now so children can name their parent. Not a
    frozen dataclass, though nothing changes one: a frozen one's `__init__` sets each field
    through `object.__setattr__`, which made it cost twice as much, and a burst makes one
    per job."""

    kind: str
    tenant: str
    payload: dict[str, Any] = field(default_factory=dict)
    reference_type: str | None = None
    reference_locator: str | None = None
    run_at: datetime | None = None
    parent_locator: str | None = None
    max_attempts: int | None = None
    dedupe_key: str | None = None
    # Jobs of one tenant that share an ordered key run one at a time, in creation order.
    ordered_key: str | None = None
    lane: Lane | None = None  # None: its kind's lane; a tenant's configuration may override
    created_by: str = NIL_UUID
    locator: str = field(default_factory=new_locator)


class ClaimedJob(NamedTuple):
    """A job a worker holds the lease of, for one attempt. A named tuple, not a frozen
    dataclass: a worker makes one per job, and a tuple is built several times faster."""

    id: int
    locator: str
    tenant: str
    kind: str
    reference_type: str | None
    reference_locator: str | None
    parent_locator: str | None
    # 1 on the first run; each later run counts on (a release at shutdown gives back only
    # an attempt that never started), so a handler at attempt 1 knows that nothing ran.
    attempt: int
    max_attempts: int
    payload: dict[str, Any]
    created_at: datetime
    run_at: datetime
    ordered_key: str | None = None
    lane: int = Lane.STANDARD


@dataclass(frozen=True, slots=True)
class Ending:
    """A job that just ended (finished, failed or cancelled), as the listeners of its kind
    are told: in the transaction that ended it, so what they record commits or rolls back
    with it."""

    locator: str
    tenant: str
    kind: str
    reference_type: str | None
    reference_locator: str | None
    attempt: int
    status: JobStatus  # finished, failed or cancelled
    # The handler's result, as JSON text, when its worker ended it (None when a job ends
    # otherwise: its children ended, or the rescuer failed it).
    result: str | None = None


class Outcome(NamedTuple):
    """How one attempt ended: a result (as JSON text), or an error and whether to retry.
    A named tuple for the reason `ClaimedJob` is one."""

    job: ClaimedJob
    result: str = "null"
    error: str | None = None
    permanent: bool = False
    postponed: bool = False
    until: datetime | None = None  # when a postponed job runs again; None: when requeued

    @property
    def succeeded(self) -> bool:
        """Whether the handler returned normally."""
        return self.error is None
