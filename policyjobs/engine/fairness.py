"""How a worker shares its free slots among the due work: lanes first, then tenants in turn.

A claim starts from the due work the store reports (`Backend.due`): for each tenant and
lane with a job due, the run-at of its oldest one (a `Group`), and for each tenant its
jobs running across the fleet and its cap (a `Load`). `Rotation.allot` turns that and the
worker's free slots into `Pick`s, how many jobs to lease from each group:

- **Lanes first.** Every slot goes to the lowest lane with due work: interactive jobs are
  claimed ahead of standard ones, and those ahead of batch ones, whenever both are due.
- **Tenants in turn** within a lane, by water-filling: each next slot goes to the tenant
  with the fewest jobs running plus slots given in this claim, a tie to the tenant this
  worker served least recently, then to the older due job. So the fleet's running jobs are
  shared evenly among the tenants with due work (max-min fairness: a tenant gets less only
  while it runs more), and a tenant with one due job, running no more than the others, is
  given a slot at the next claim of any worker, however deep another's backlog. Fewest
  running rather than plain round-robin, because several workers claim at once: each
  counts what the others run, so between them they share the fleet, not each its own
  threads. The tie goes by this worker's own memory, so that a worker claiming one slot at
  a time (slow jobs, few threads) still takes the tenants in turn.
- **The oldest due job, one slot in ten**, counted over the worker's life, whatever its
  lane and tenant. Nothing is starved: a job is claimed at the latest once every older due
  job has been, and at least one slot in ten goes to the oldest, so a batch job waits at
  most ten slots per older due job, however steady a stream of interactive work is.
- **A tenant's cap** (`maxRunningJobs`) bounds its running jobs plus the slots it is given.

The store knows only that a group has a job due, not how many: a pick may come back short,
and `leftover` says what is left to share again in the same claim.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from policyjobs.engine.jobs import ClaimedJob

OLDEST_EVERY = 10  # one slot in this many goes to the oldest due job


@dataclass(frozen=True, slots=True)
class Group:
    """A tenant's due jobs of one lane: when the oldest of them became due."""

    tenant: str
    lane: int
    head: datetime


@dataclass(frozen=True, slots=True)
class Load:
    """A tenant's jobs running across the fleet, and the most it may run (None: no cap)."""

    running: int = 0
    cap: int | None = None

    def room(self, given: int) -> int | None:
        """How many more jobs the tenant may start beyond `given`; None if no cap."""
        return None if self.cap is None else max(self.cap - self.running - given, 0)


@dataclass(frozen=True, slots=True)
class Pick:
    """Lease up to `count` of a group's due jobs, oldest first."""

    tenant: str
    lane: int
    count: int


class Rotation:
    """A worker's memory between claims: slots given over its life (for the oldest-job
    slot), and when it last served each tenant (for ties). Not shared between threads."""

    def __init__(self) -> None:
        self._slots = 0
        self._turn = 0
        self._served: dict[str, int] = {}
        # A capped tenant had due work at the last claim: the next one holds the caps (on
        # PostgreSQL that takes a transaction, see `PostgresBackend.hold_caps`).
        self.capped = False
        # The one tenant and lane with due work at the last read that found any, if
        # uncapped: the next claim leases from it in one statement, if it is still alone,
        # before reading again. A read that found nothing keeps it: the next work is most
        # likely the same tenant's, and the statement checks that it is alone.
        self.alone: tuple[str, int] | None = None

    def saw(self, groups: Sequence[Group], loads: Mapping[str, Load]) -> None:
        """Remember what a read of the due work found."""
        if not groups:
            return
        lone = len(groups) == 1 and loads[groups[0].tenant].cap is None
        self.alone = (groups[0].tenant, groups[0].lane) if lone else None

    def lone(self, free: int) -> Pick | None:
        """Every slot to the group alone at the last read, if there was one."""
        return None if self.alone is None else Pick(*self.alone, free)

    def took(self, free: int) -> None:
        """Count `free` slots given without `allot` (to a group alone)."""
        self._slots += free

    def allot(self, groups: Sequence[Group], loads: Mapping[str, Load], free: int, *,
              first: bool = True) -> list[Pick]:
        """Share `free` slots among `groups`; `first` for a claim's first share, which
        counts the slots and gives the oldest job its due."""
        given: Counter[tuple[str, int]] = Counter()
        taken: Counter[str] = Counter()

        def room(tenant: str) -> int:
            left = loads.get(tenant, Load()).room(taken[tenant])
            return free if left is None else left

        def give(group: Group, count: int) -> None:
            given[group.tenant, group.lane] += count
            taken[group.tenant] += count

        if first:
            oldest = (self._slots + free) // OLDEST_EVERY - self._slots // OLDEST_EVERY
            self._slots += free
            if oldest and (open_ := [g for g in groups if room(g.tenant)]):
                group = min(open_, key=lambda g: (g.head, g.lane, g.tenant))
                give(group, min(oldest, room(group.tenant)))
        left = free - taken.total()
        while left > 0:
            open_ = [g for g in groups if room(g.tenant)]
            if not open_:
                break
            lane = min(g.lane for g in open_)
            tier = [g for g in open_ if g.lane == lane]
            # One tenant takes what it has room for; several share a slot at a time.
            count = min(left, room(tier[0].tenant)) if len(tier) == 1 else 1
            group = min(tier, key=lambda g: (loads.get(g.tenant, Load()).running + taken[g.tenant],
                                             self._served.get(g.tenant, -1), g.head))
            give(group, count)
            left -= count
        return [Pick(tenant, lane, count) for (tenant, lane), count in given.items()]

    def served(self, tenants: Iterable[str]) -> None:
        """Remember that this claim served `tenants`."""
        self._turn += 1
        for tenant in tenants:
            self._served[tenant] = self._turn


def leftover(groups: Sequence[Group], loads: Mapping[str, Load], picks: Sequence[Pick],
             leased: Sequence[ClaimedJob]) -> tuple[list[Group], dict[str, Load]]:
    """What is left to share after `picks` leased `leased`: the groups that gave all that
    was asked of them (they may have more), and the loads with the leased jobs running."""
    got = Counter((job.tenant, job.lane) for job in leased)
    short = {(p.tenant, p.lane) for p in picks if got[p.tenant, p.lane] < p.count}
    per_tenant: Counter[str] = Counter()
    for (tenant, _), count in got.items():
        per_tenant[tenant] += count
    loads = {tenant: replace(load, running=load.running + per_tenant[tenant])
             for tenant, load in loads.items()}
    return [g for g in groups if (g.tenant, g.lane) not in short], loads
