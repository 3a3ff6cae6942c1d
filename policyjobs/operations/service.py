"""Operators' actions, each recorded in the audit trail in the transaction that makes it:
a bulk retry or cancel (asked for here, run by its own job: `bulk`), and pausing and
resuming a kind."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from policyjobs.engine import JobQueue, selection
from policyjobs.engine.pauses import EVERY_TENANT, Pause
from policyjobs.engine.registry import Verdicts
from policyjobs.engine.selection import JobFilter
from policyjobs.exceptions import NotFound
from policyjobs.operations import actions, bulk
from policyjobs.security import audit
from policyjobs.security.audit import Actor


def matched(conn: sa.Connection, chosen: JobFilter) -> int:
    """How many jobs `chosen` takes now: what a bulk action asked for now would match."""
    return selection.count(conn, chosen, through=selection.last_id(conn))


def act_on_jobs(conn: sa.Connection, queue: JobQueue, *, action: str, chosen: JobFilter,
                actor: Actor) -> tuple[int, str]:
    """Start a bulk `action` (`RETRY` or `CANCEL`) on the jobs `chosen` takes, in `conn`'s
    transaction, and record it: how many it matched, and its job's locator."""
    count, job = bulk.start(conn, queue, action=action, chosen=chosen, actor=actor)
    audit.record(conn, actor, f"jobs.{action}", at=queue.clock.now(), tenant=chosen.tenant,
                 filter=bulk.written(chosen), matched=count, jobLocator=job)
    return count, job


def act_now(conn: sa.Connection, queue: JobQueue, *, action: str, tenant: str,
            locators: Sequence[str], actor: Actor) -> Verdicts:
    """Do `action` to the tenant's jobs `locators` at once, in `conn`'s transaction, and
    record it: each job's verdict (None: done; a job the tenant lacks is not there). For a
    few jobs an operator picked; many go through a bulk action's job."""
    chosen = JobFilter(tenant=tenant, locators=tuple(locators))
    rows = selection.batch(conn, chosen, after=0, through=selection.last_id(conn),
                           limit=len(locators))
    verdicts = actions.act(conn, queue, action, rows)
    audit.record(conn, actor, f"jobs.{action}", at=queue.clock.now(), tenant=tenant,
                 jobLocators=sorted(verdicts), skipped={k: v for k, v in verdicts.items() if v})
    return verdicts


def pause(conn: sa.Connection, queue: JobQueue, *, kind: str, tenant: str | None,
          actor: Actor) -> tuple[Pause, bool]:
    """Pause `kind` for `tenant` (None: every tenant), recording it if it is new: the pause,
    and whether it is new."""
    made, new = queue.pause(conn, kind, tenant or EVERY_TENANT)
    if new:
        audit.record(conn, actor, "pause", at=queue.clock.now(), tenant=tenant, kind=kind,
                     pauseLocator=made.locator)
    return made, new


def find_pause(queue: JobQueue, locator: str) -> Pause:
    """The pause `locator`, or `NotFound`."""
    found = next((p for p in queue.pauses() if p.locator == locator), None)
    if found is None:
        raise NotFound(f"no pause {locator}")
    return found


def resume(conn: sa.Connection, queue: JobQueue, *, locator: str, actor: Actor) -> Pause:
    """Lift the pause `locator` and record it, or `NotFound`."""
    lifted = queue.resume(conn, locator)
    if lifted is None:
        raise NotFound(f"no pause {locator}")
    audit.record(conn, actor, "resume", at=queue.clock.now(),
                 tenant=None if lifted.every_tenant else lifted.tenant, kind=lifted.kind,
                 pauseLocator=lifted.locator)
    return lifted
