"""A bulk retry or cancel, run as a job of its own (`BULK`): the jobs its filter takes, a
batch at a time, each batch's actions committed with the progress they made.

Asking for one counts the jobs the filter takes and records the count with the newest job's
id, beyond which no job is taken (`selection`); the job then walks the jobs by id. Running
it twice, or its job again after its worker died, is safe: a job an earlier run acted on
is no longer in a state the action takes, and is skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import JobContext, JobQueue, NewJob, selection
from policyjobs.engine.ids import NIL_UUID
from policyjobs.engine.selection import JobFilter
from policyjobs.operations import actions
from policyjobs.operations.models import BULK, operations_bulk
from policyjobs.security.audit import Actor

BATCH = 500  # jobs acted on in one transaction
GONE = "no longer matches the filter"  # matched when counted, not when its batch came
DONE = {"retry": "retried", "cancel": "cancelled"}  # what a result calls the jobs acted on
_BULK = operations_bulk.c


def start(conn: sa.Connection, queue: JobQueue, *, action: str, chosen: JobFilter,
          actor: Actor) -> tuple[int, str]:
    """Count the jobs `chosen` takes and enqueue the job that does `action` to them, in
    `conn`'s transaction: the count and the job's locator. The filter is kept as the API's
    fields write it (`written`)."""
    through = selection.last_id(conn)
    matched = selection.count(conn, chosen, through=through)
    job = NewJob(BULK, chosen.tenant or NIL_UUID, payload={"action": action},
                 created_by=actor.name if actor.token else NIL_UUID)
    queue.enqueue(conn, [job])
    conn.execute(operations_bulk.insert().values(
        job_locator=job.locator, action=action, tenant=chosen.tenant, filter=written(chosen),
        through_id=through, matched=matched, done_id=0, acted=0, skipped={},
        created_at=queue.clock.now()))
    return matched, job.locator


def run(context: JobContext) -> dict[str, Any]:
    """The handler of a `BULK` job: act on each batch in turn; the summary."""
    while (summary := _next_batch(context)) is None:
        pass
    return summary


def _next_batch(context: JobContext) -> dict[str, Any] | None:
    """Act on the next batch and record it; the summary once no batch is left, else None."""
    with context.db.begin() as conn:
        bulk = conn.execute(sa.select(operations_bulk)
                            .where(_BULK.job_locator == context.job.locator)
                            .with_for_update()).one()
        rows = selection.batch(conn, filter_of(bulk.filter), after=bulk.done_id,
                               through=bulk.through_id, limit=BATCH)
        if not rows:
            return _finish(conn, bulk, context.clock.now())
        verdicts = actions.act(conn, context.queue, bulk.action, rows)
        skipped = Counter(bulk.skipped) + Counter(v for v in verdicts.values() if v)
        conn.execute(operations_bulk.update().where(_BULK.job_locator == bulk.job_locator)
                     .values(done_id=rows[-1].id, skipped=dict(skipped),
                             acted=bulk.acted + sum(v is None for v in verdicts.values())))
        return None


def _finish(conn: sa.Connection, bulk: Any, now: datetime) -> dict[str, Any]:
    skipped = dict(bulk.skipped)
    if (gone := bulk.matched - bulk.acted - sum(skipped.values())) > 0:
        skipped[GONE] = gone
    conn.execute(operations_bulk.update().where(_BULK.job_locator == bulk.job_locator)
                 .values(finished_at=now, skipped=skipped))
    return summary(bulk, skipped)


def summary(bulk: Any, skipped: Mapping[str, int] | None = None) -> dict[str, Any]:
    """What a bulk action did so far (all of it, once finished), as its job's result says."""
    return {"action": bulk.action, "matched": bulk.matched, DONE[bulk.action]: bulk.acted,
            "skipped": dict(bulk.skipped if skipped is None else skipped),
            "filter": dict(bulk.filter)}


def written(chosen: JobFilter) -> dict[str, Any]:
    """A filter as the API's fields write it (times in RFC 3339, UTC as `Z`), only those
    given: what a bulk action and its audit record keep, and `filter_of` reads back."""
    def moment(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    fields = {"tenantLocator": chosen.tenant, "kind": chosen.kind, "status": chosen.status,
              "referenceLocator": chosen.reference,
              "createdAfter": moment(chosen.created_after),
              "createdBefore": moment(chosen.created_before),
              "jobLocators": None if chosen.locators is None else list(chosen.locators)}
    return {name: value for name, value in fields.items() if value is not None}


def filter_of(asked: Mapping[str, Any]) -> JobFilter:
    """The filter of the API's fields, as recorded (`written`)."""
    def moment(name: str) -> datetime | None:
        value = asked.get(name)
        return datetime.fromisoformat(value) if value else None

    locators = asked.get("jobLocators")
    return JobFilter(tenant=asked.get("tenantLocator"), kind=asked.get("kind"),
                     status=asked.get("status"), reference=asked.get("referenceLocator"),
                     created_after=moment("createdAfter"),
                     created_before=moment("createdBefore"),
                     locators=tuple(locators) if locators is not None else None)
