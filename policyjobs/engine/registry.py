"""Job kinds and periodic duties that the domains register with the engine."""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.errors import UnknownJobKind
from policyjobs.engine.jobs import Ending, Lane

# A job's handler: a function of its `context.JobContext`, whose result the job keeps. Typed
# loosely here so that the registry, which the queue holds, needs nothing of the queue.
Handler = Callable[[Any], Any]
# A handler of several jobs of one kind and one tenant at once: given their contexts, each
# one's result, in order.
BatchHandler = Callable[[Sequence[Any]], Sequence[Any]]
# What an operator's action made of each job it was given, by locator: None if it was
# done, else why the job was skipped, in words shared by the jobs skipped for one reason.
Verdicts = dict[str, str | None]
# An operator's action on jobs of one kind (see `policyjobs.operations`): given the
# transaction, the `JobQueue` and the jobs (rows with `selection.COLUMNS`), their verdicts.
Action = Callable[[sa.Connection, Any, Sequence[Any]], Verdicts]


@dataclass(frozen=True, slots=True)
class JobKind:
    """A kind of job: its handler, its lane and how it retries."""

    name: str
    handler: Handler
    lane: Lane = Lane.STANDARD  # of its jobs whose enqueuer names none
    max_attempts: int = 5
    backoff_base: timedelta = timedelta(seconds=1)
    backoff_cap: timedelta = timedelta(hours=1)
    # The wait after each failed attempt in turn (the last one repeats), jittered by up to
    # a tenth either way, instead of the exponential backoff.
    retry_delays: Sequence[timedelta] = ()
    # Threads of its own in each worker, apart from the handler threads the other kinds
    # share (0: it shares them): for work that mostly waits on someone else, such as an
    # HTTP call, so that it never holds a thread the other kinds need.
    threads: int = 0
    # Runs several of its jobs of one tenant at once, when a worker claims more than one
    # (and the kind has no threads of its own): for work whose jobs share one transaction
    # and set-based statements, such as a generation run's invoices. It does all their
    # work in one transaction or none; if it raises, each of the jobs runs alone through
    # `handler`, so one job's trouble costs the others only the batch.
    batch: BatchHandler | None = None
    # What an operator's retry and cancel do to its jobs; None: the engine's own (a failed
    # job runs again, with one more attempt; a job not started is cancelled).
    retry: Action | None = None
    cancel: Action | None = None
    # Why an operator cannot retry its jobs, if they cannot be.
    unretriable: str | None = None

    def backoff(self, attempt: int) -> timedelta:
        """The wait after failed `attempt`: its `retry_delays`, else exponential backoff
        jittered down by up to a half."""
        if self.retry_delays:
            delay = self.retry_delays[min(max(attempt, 1), len(self.retry_delays)) - 1]
            return delay * (0.9 + random.random() / 5)
        exponential = self.backoff_base * (2 ** max(attempt - 1, 0))
        ceiling = min(exponential, self.backoff_cap)
        jitter: timedelta = ceiling * (0.5 + random.random() / 2)
        return jitter


@dataclass(frozen=True, slots=True)
class Duty:
    """Periodic work that only the elected scheduler process runs."""

    name: str
    run: Callable[[Any, datetime], object]  # given the `JobQueue` and the time
    every: timedelta


@dataclass(frozen=True, slots=True)
class EndListener:
    """Told of every job of `kinds` that finishes or fails, in the transaction that ends it:
    `notify(queue, conn, endings)`, the queue (a `JobQueue`) to enqueue follow-ups with."""

    kinds: Collection[str]
    notify: Callable[[Any, sa.Connection, Sequence[Ending]], None]


def _no_handler(context: Any) -> None:
    raise UnknownJobKind(f"no handler is registered for job kind {context.job.kind!r}")


class Registry:
    """The job kinds and duties known to this process."""

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}
        self._duties: dict[str, Duty] = {}
        self._listeners: list[EndListener] = []
        self.listened: frozenset[str] = frozenset()  # the kinds some listener is told of

    def register(self, kind: JobKind) -> JobKind:
        """Add a job kind; a name can be registered only once."""
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} is already registered")
        self._kinds[kind.name] = kind
        return kind

    def add_duty(self, duty: Duty) -> Duty:
        """Add a periodic duty; a name can be added only once."""
        if duty.name in self._duties:
            raise ValueError(f"duty {duty.name!r} is already added")
        self._duties[duty.name] = duty
        return duty

    def listen(self, listener: EndListener) -> None:
        """Tell `listener` of its kinds' jobs as they end."""
        self._listeners.append(listener)
        self.listened |= frozenset(listener.kinds)

    def ended(self, queue: Any, conn: sa.Connection, endings: Sequence[Ending]) -> None:
        """Tell each listener of the jobs among `endings` of its kinds."""
        for listener in self._listeners:
            if mine := [e for e in endings if e.kind in listener.kinds]:
                listener.notify(queue, conn, mine)

    def kind(self, name: str) -> JobKind:
        """The kind called `name`."""
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownJobKind(f"no handler is registered for job kind {name!r}") from None

    def backoff(self, name: str, attempt: int) -> timedelta:
        """How long a job of `name` waits after failed `attempt`."""
        found = self._kinds.get(name)
        return found.backoff(attempt) if found else JobKind(name, _no_handler).backoff(attempt)

    def lane(self, name: str) -> Lane:
        """The lane of new jobs of `name` that name none, standard for a kind this process
        lacks."""
        found = self._kinds.get(name)
        return found.lane if found else Lane.STANDARD

    def default_max_attempts(self, name: str) -> int:
        """The retry limit for new jobs of `name`, or 1 for a kind this process lacks."""
        found = self._kinds.get(name)
        return found.max_attempts if found else 1

    @property
    def duties(self) -> tuple[Duty, ...]:
        """Every registered duty."""
        return tuple(self._duties.values())

    @property
    def own_threads(self) -> dict[str, int]:
        """The kinds that run on threads of their own, and how many each has."""
        return {name: kind.threads for name, kind in self._kinds.items() if kind.threads}

    @property
    def batched(self) -> frozenset[str]:
        """The kinds whose jobs a worker runs several at once (`JobKind.batch`)."""
        return frozenset(name for name, kind in self._kinds.items()
                         if kind.batch and not kind.threads)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The names of every registered kind."""
        return tuple(self._kinds)
