"""The engine's store primitives; `postgres.py` and `sqlite.py` hold the dialect differences."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

from policyjobs.engine.fairness import Group, Load, Pick, Rotation, leftover
from policyjobs.engine.jobs import ClaimedJob, Ending, JobStatus, NewJob, Outcome
from policyjobs.engine.sql import queries


def error_entry(attempt: int, at: datetime, error: str, worker: str | None = None) -> str:
    """One entry of a job's `errors` list, as JSON text: the failed attempt, when it ended
    and how, and the worker that ran it (the store adds when it started, `startedAt`)."""
    entry = {"attempt": attempt, "at": at.isoformat(), "error": error}
    return orjson.dumps(entry if worker is None else {**entry, "worker": worker}).decode()


def json_text(value: Any) -> str:
    """A JSON document as text, for a JSON column."""
    return orjson.dumps(value).decode()


Rows = sa.CursorResult[*tuple[Any, ...]]
OrderedKey = tuple[str, str]  # (tenant, ordered key)
DedupeKey = tuple[str, str, str]  # (tenant, kind, dedupe key)


class Completed(NamedTuple):
    """What recording successful attempts did: the locators of the jobs left waiting for
    their children, and the ids of those that finished (when asked for)."""

    waiting: set[str]
    finished: set[int]


class Backend(ABC):
    """The queue's operations, each run on a connection inside the caller's transaction."""

    dialect: str
    # Whether each statement of `claim` stands on its own, committing itself (the due work
    # only read, each lease one statement): a worker with nothing to record then claims
    # without BEGIN and COMMIT. Not for a capped tenant, whose cap takes a transaction.
    claims_alone = False
    # Whether a worker ends the parents of the children it recorded after its turn commits,
    # in a transaction of its own, rather than in the turn's, under a lock on each parent
    # (see `resolve_waiting`). SQLite has one writer at a time: its turns need no lock.
    ends_parents_apart = False

    def __init__(self) -> None:
        self.sql = queries(self.dialect)

    # -- how values travel --------------------------------------------------------------

    @abstractmethod
    def day(self, moment: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The UTC date of a time column, as this dialect computes it."""

    @abstractmethod
    def time(self, value: datetime) -> Any:
        """A datetime as this dialect's parameter."""

    def locators(self, values: Iterable[str]) -> str:
        """A list of locators as one JSON array, which both dialects unpack in SQL."""
        return orjson.dumps(list(values)).decode()

    def ordered_keys(self, keys: Iterable[OrderedKey]) -> str:
        """Ordered keys as one JSON array of `{tenant, key}`."""
        return orjson.dumps([{"tenant": t, "key": k} for t, k in sorted(set(keys))]).decode()

    def outcomes(self, outcomes: Sequence[Outcome]) -> str:
        """Successful attempts as one JSON array of `{id, attempt, result}`."""
        return orjson.dumps([
            {"id": o.job.id, "attempt": o.job.attempt, "result": orjson.Fragment(o.result)}
            for o in outcomes
        ]).decode()

    @abstractmethod
    def claimed(self, row: Sequence[Any]) -> ClaimedJob:
        """A claimed job from a row of the `claim` query."""

    def run(self, conn: sa.Connection, name: str, params: Mapping[str, Any]) -> Rows:
        """Execute the named query."""
        return conn.exec_driver_sql(self.sql[name], dict(params))

    # -- enqueue --------------------------------------------------------------------------

    @abstractmethod
    def insert(self, conn: sa.Connection, jobs: Sequence[NewJob], max_attempts: Sequence[int],
               lanes: Sequence[int], statuses: Sequence[str], now: datetime) -> int:
        """Insert the jobs (each queued or blocked, each in its lane unless the tenant's
        configuration sets its kind's), skipping those whose dedupe key is taken; the
        number inserted."""

    def lock_ordered_keys(self, conn: sa.Connection,  # noqa: B027 - SQLite has one writer
                          keys: str) -> None:
        """Keep other enqueuers of these ordered keys out until the transaction ends."""

    def unfinished_ordered(self, conn: sa.Connection,
                           keys: Iterable[OrderedKey]) -> set[OrderedKey]:
        """Which of `keys` have an unfinished job, each such key held until the transaction
        ends: enqueue puts new jobs of those keys behind it."""
        batch = self.ordered_keys(keys)
        self.lock_ordered_keys(conn, batch)
        rows = self.run(conn, "unfinished_ordered", {"keys": batch})
        return {(str(row[0]), str(row[1])) for row in rows}

    def unblock(self, conn: sa.Connection, keys: Iterable[OrderedKey], now: datetime) -> list[str]:
        """Queue the next blocked job of each key whose earlier jobs have all ended."""
        wanted = set(keys)
        if not wanted:
            return []
        rows = self.run(conn, "unblock", {"keys": self.ordered_keys(wanted),
                                          "now": self.time(now)})
        return [str(row[0]) for row in rows]

    def unblock_stalled(self, conn: sa.Connection, now: datetime) -> list[str]:
        """`unblock` for every ordered key: the sweep after paths that end jobs silently."""
        return [str(row[0]) for row in self.run(conn, "unblock_stalled", {"now": self.time(now)})]

    def notify(self, conn: sa.Connection) -> None:  # noqa: B027 - SQLite has no one to tell
        """Wake other processes' workers when the transaction commits."""

    def holders(self, conn: sa.Connection, jobs: Iterable[NewJob]) -> dict[DedupeKey, str]:
        """The locator of the job holding each dedupe key of `jobs`, in one statement."""
        keys = sorted({(j.tenant, j.kind, j.dedupe_key) for j in jobs if j.dedupe_key})
        batch = orjson.dumps([{"tenant": t, "kind": k, "key": d} for t, k, d in keys]).decode()
        rows = self.run(conn, "find_deduplicated", {"keys": batch})
        return {(str(r[0]), str(r[1]), str(r[2])): str(r[3]) for r in rows}

    # -- the hot path -----------------------------------------------------------------------

    def claim(self, conn: sa.Connection, *, owner: str, limit: int, now: datetime,
              lease_until: datetime, rotation: Rotation | None = None) -> list[ClaimedJob]:
        """Lease up to `limit` due jobs for `owner`, shared out among lanes and tenants by
        `rotation` (see `fairness`; a fresh one if None): the due work is read, shared
        out and leased, and what a group could not give is shared again. A group that was
        alone at the last read is first tried alone, in one statement. Interactive jobs
        first, then by run-at."""
        rotation = rotation if rotation is not None else Rotation()
        if (lone := rotation.lone(limit)) is not None and (
                alone := self.lease_alone(conn, owner=owner, pick=lone, now=now,
                                          lease_until=lease_until)) is not None:
            if alone:
                rotation.took(limit)
                rotation.served([lone.tenant])
            return alone
        groups, loads = self.due(conn, now)
        rotation.saw(groups, loads)
        if not groups:
            return []
        groups, loads = self.hold_caps(conn, groups, loads, rotation)
        claimed: list[ClaimedJob] = []
        first = True
        while groups and len(claimed) < limit:
            picks = rotation.allot(groups, loads, limit - len(claimed), first=first)
            first = False
            if not picks:
                break
            leased = self.lease(conn, owner=owner, picks=picks, now=now,
                                lease_until=lease_until)
            claimed += leased
            groups, loads = leftover(groups, loads, picks, leased)
        rotation.served({job.tenant for job in claimed})
        claimed.sort(key=lambda job: (job.lane, job.run_at, job.id))
        return claimed

    def due(self, conn: sa.Connection, now: datetime) -> tuple[list[Group], dict[str, Load]]:
        """The due work by tenant and lane, and each such tenant's load."""
        groups: list[Group] = []
        loads: dict[str, Load] = {}
        for tenant, lane, head, cap, running in self.run(conn, "due", {"now": self.time(now)}):
            groups.append(Group(tenant, lane, self.from_time(head)))
            loads[tenant] = Load(running, cap)
        return groups, loads

    def hold_caps(self, conn: sa.Connection, groups: list[Group], loads: dict[str, Load],
                  rotation: Rotation) -> tuple[list[Group], dict[str, Load]]:
        """Make the caps of capped tenants hold against other workers claiming at once;
        the groups and loads the claim may use. SQLite has one writer: nothing to do."""
        return groups, loads

    @abstractmethod
    def lease(self, conn: sa.Connection, *, owner: str, picks: Sequence[Pick], now: datetime,
              lease_until: datetime) -> list[ClaimedJob]:
        """Lease the due jobs `picks` ask for, skipping those another worker is leasing."""

    @abstractmethod
    def lease_alone(self, conn: sa.Connection, *, owner: str, pick: Pick, now: datetime,
                    lease_until: datetime) -> list[ClaimedJob] | None:
        """Lease what `pick` asks for, oldest first, if its group is still the only due work
        and its tenant has no cap, in one statement: the jobs leased, none if nothing is due
        (or all the group's due jobs are being leased by others). None if the claim must
        read the due work: the group is not alone, or this store cannot tell."""

    def complete(self, conn: sa.Connection, *, owner: str, outcomes: Sequence[Outcome],
                 now: datetime, report: bool = False) -> Completed:
        """Record successful attempts whose lease `owner` still holds: a job with children
        waits for them, the others finish. The locators of those left waiting, and, if
        `report`, the ids of those that finished."""
        rows = self.run(conn, "complete", {"owner": owner, "now": self.time(now),
                                           "batch": self.outcomes(outcomes),
                                           "report": report}).all()
        completed = Completed({str(row[1]) for row in rows if row[1] is not None},
                              {int(row[0]) for row in rows if row[1] is None})
        self.mark(conn, completed.waiting)
        return completed

    def retry(self, conn: sa.Connection, *, owner: str, outcome: Outcome, run_at: datetime,
              now: datetime) -> None:
        """Put a failed attempt back in the queue at `run_at`."""
        self.run(conn, "retry", self._failure(owner, outcome, now) | {"run_at": self.time(run_at)})

    def fail(self, conn: sa.Connection, *, owner: str, outcome: Outcome, now: datetime) -> bool:
        """End a job whose attempt failed for good; whether it ended (`owner` still held it)."""
        if self.run(conn, "fail", self._failure(owner, outcome, now)).all():
            self.mark(conn, [outcome.job.locator])
            return True
        return False

    def _failure(self, owner: str, outcome: Outcome, now: datetime) -> dict[str, Any]:
        job = outcome.job
        return {
            "id": job.id, "attempt": job.attempt, "owner": owner, "now": self.time(now),
            "error": error_entry(job.attempt, now, outcome.error or "", owner),
        }

    def mark(self, conn: sa.Connection, locators: Iterable[str]) -> None:
        """Bring `job_marks` in step with the status of the jobs among `locators`: every path
        that moves a job into or out of waiting, failed or cancelled calls this after."""
        if wanted := list(locators):
            self.run(conn, "mark", {"locators": self.locators(wanted)})

    def lock_waiting(self, conn: sa.Connection, locators: list[str]) -> None:  # noqa: B027
        """Lock waiting parents before deciding whether they are done."""

    def resolve_waiting(self, conn: sa.Connection, locators: Iterable[str], now: datetime, *,
                        committed: bool = False) -> list[str]:
        """End every waiting parent among `locators` whose children have all ended, upwards,
        and unblock what waited on the parents' ordered keys; the parents ended.

        Two transactions that each end a parent's last unfinished child, or one that ends
        it while another leaves the parent waiting, must not both miss the other's work.
        In the transaction that ended them, each locks the parents first, so the second
        waits for the first to commit and then sees it. If `committed`, the children's
        transactions have committed before this one began, so the parents among `locators`
        need no lock: of any two, the one that committed last looks after the other
        committed (a parent whose worker died in between is ended by
        `Upkeep.end_waiting`). Their own parents are locked all the same: the parents'
        ends are this transaction's own, not yet committed."""
        pending = sorted(set(locators))
        keys: set[OrderedKey] = set()
        ended: list[str] = []
        while pending:
            if not committed or ended:
                self.lock_waiting(conn, pending)
            rows = self.run(conn, "resolve_waiting", {
                "locators": self.locators(pending), "now": self.time(now),
            }).all()
            ended += (str(row[3]) for row in rows)
            self.mark(conn, (str(row[3]) for row in rows))
            pending = sorted({str(row[0]) for row in rows if row[0] is not None})
            keys |= {(str(row[1]), str(row[2])) for row in rows if row[2] is not None}
        self.unblock(conn, keys, now)
        return ended

    def endings(self, conn: sa.Connection, locators: Iterable[str],
                kinds: Iterable[str]) -> list[Ending]:
        """The jobs among `locators` of `kinds` that have ended: finished, failed or
        cancelled."""
        wanted, of = list(locators), list(kinds)
        if not wanted or not of:
            return []
        rows = self.run(conn, "endings", {"locators": self.locators(wanted),
                                          "kinds": self.locators(of)})
        return [Ending(str(r[0]), str(r[1]), str(r[2]), r[3], r[4], int(r[5]), JobStatus(r[6]))
                for r in rows]

    # -- leases -----------------------------------------------------------------------------

    def heartbeat(self, conn: sa.Connection, *, owner: str, lease_until: datetime) -> int:
        """Extend every lease `owner` holds; the number extended."""
        return self.run(conn, "heartbeat", {
            "owner": owner, "lease_until": self.time(lease_until),
        }).rowcount

    def release(self, conn: sa.Connection, *, owner: str, jobs: Iterable[tuple[int, bool]],
                now: datetime) -> None:
        """Give held jobs back to the queue: (id, whether the attempt had started)."""
        for job_id, started in jobs:
            self.run(conn, "release", {
                "id": job_id, "owner": owner, "now": self.time(now), "undo": 0 if started else 1,
            })

    def rescue(self, conn: sa.Connection, *, now: datetime,
               wall_now: datetime) -> list[tuple[str, str, str, str | None, str]]:
        """Re-queue or fail jobs with expired leases: (locator, kind, status, parent, tenant)."""
        rows = self.run(conn, "rescue", {
            "now": self.time(now), "at": now.isoformat(), "wall_now": self.time(wall_now),
        }).all()
        self.mark(conn, (str(r[0]) for r in rows if r[2] == JobStatus.FAILED))
        return [(str(r[0]), str(r[1]), str(r[2]), r[3], str(r[4])) for r in rows]

    # -- the rest ---------------------------------------------------------------------------

    def cancel(self, conn: sa.Connection, locators: Iterable[str],
               now: datetime) -> list[tuple[str, str | None]]:
        """Cancel jobs not yet started, and unblock what waited on them: (locator, parent)
        of each one cancelled."""
        rows = self.run(conn, "cancel", {
            "locators": self.locators(locators), "now": self.time(now),
        }).all()
        self.mark(conn, (str(r[0]) for r in rows))
        self.unblock(conn, [(str(r[2]), str(r[3])) for r in rows if r[3] is not None], now)
        return [(str(r[0]), r[1]) for r in rows]

    def requeue(self, conn: sa.Connection, locators: Iterable[str], now: datetime,
                lane: int | None = None) -> list[str]:
        """Run jobs again now, wherever they are, in `lane` if given (else their own, or the
        one their tenant's configuration sets their kind); the locators requeued."""
        requeued = [str(r[0]) for r in self.run(conn, "requeue", {
            "locators": self.locators(locators), "now": self.time(now),
            "lane": None if lane is None else int(lane),
        })]
        self.mark(conn, [*requeued, *self.reopen_parents(conn, requeued, now)])
        return requeued

    def reopen_parents(self, conn: sa.Connection, locators: Sequence[str],
                       now: datetime) -> list[str]:
        """Set the parents of the jobs `locators`, which run again, waiting again where a
        child's failure failed them, and their parents upwards: a failed child retried
        may yet end its parent finished. A parent that failed on an attempt of its own
        stays failed (it is retried itself). The parents reopened."""
        reopened: list[str] = []
        children = list(locators)
        while children:
            children = [str(r[0]) for r in self.run(conn, "reopen_parents", {
                "locators": self.locators(children), "now": self.time(now)})]
            reopened.extend(children)
        return reopened

    def waiting(self, conn: sa.Connection, after: int = 0) -> list[tuple[int, str]]:
        """Up to 1000 waiting jobs with ids past `after`, in id order: (id, locator)."""
        return [(int(r[0]), str(r[1])) for r in self.run(conn, "waiting", {"after": after})]

    def prune(self, conn: sa.Connection, before: datetime) -> int:
        """Delete up to 1000 jobs that ended before `before`, and their marks; the number
        deleted."""
        return int(self.run(conn, "prune", {"before": self.time(before)}).scalar_one())

    def lead(self, conn: sa.Connection, *, name: str, owner: str, until: datetime,
             wall_now: datetime) -> bool:
        """Take or keep leadership `name` until `until`; whether `owner` leads."""
        return self.run(conn, "lead", {
            "name": name, "owner": owner, "until": self.time(until),
            "wall_now": self.time(wall_now),
        }).first() is not None

    def resign(self, conn: sa.Connection, *, name: str, owner: str) -> None:
        """Give up leadership `name`."""
        self.run(conn, "resign", {"name": name, "owner": owner})

    def queue_depth(self, conn: sa.Connection, now: datetime) -> list[tuple[str, int, datetime]]:
        """(kind, count, oldest run-at) of the due, queued jobs among the first 10,000 found
        a tenant and lane at a time."""
        rows = self.run(conn, "queue_depth", {"now": self.time(now)}).all()
        return [(str(r[0]), int(r[1]), self.from_time(r[2])) for r in rows]

    def from_time(self, value: Any) -> datetime:
        """A time as this dialect returns it from plain SQL, as an aware datetime."""
        return value  # type: ignore[no-any-return]

    def busy(self, conn: sa.Connection, now: datetime) -> bool:
        """Whether a job is executing or due by `now`, or a parent is about to end."""
        return bool(self.run(conn, "busy", {"now": self.time(now)}).scalar())
