"""The delinquency jobs: check an invoice at its due time, end a grace, fire an event.

Each does its work and records its outcome in one transaction (a check that finds its
invoice settled, in statements that each stand alone), so a job run again after its worker
died finds the work done and does nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from policyjobs.delinquency import service
from policyjobs.delinquency.ports import Ports
from policyjobs.engine import NIL_UUID, JobContext
from policyjobs.store.database import statements_alone


def run_create(context: JobContext, ports: Ports) -> dict[str, Any]:
    """At an invoice's due time: open a delinquency if the invoice is unsettled.

    Most invoices are settled by then, and settled for good: for those the check reads the
    invoice without a lock and records its outcome, two statements that stand alone."""
    job = context.job
    with statements_alone(context.db).begin() as conn:  # the job's reference is its invoice
        if ports.settled_among(conn, tenant=job.tenant, locators=[job.reference_locator]):
            _record(conn, context, delinquency_locators=[])
            return {"delinquencyLocators": []}
    with context.db.begin() as conn:
        return {"delinquencyLocators": _open(conn, context, ports)}


def run_creates(contexts: Sequence[JobContext], ports: Ports) -> list[dict[str, Any]]:
    """Several checks of one tenant's invoices: which invoices are settled is read in one
    statement, and the checks of those recorded in another, in one transaction; then a
    delinquency is opened for each of the others in a transaction of its own, as alone (a
    transaction that held several invoices could deadlock with a payment, which holds its
    account's credit before its invoice)."""
    first = contexts[0]
    invoice_of = {c.job.locator: str(c.job.reference_locator) for c in contexts}
    with first.db.begin() as conn:
        settled = ports.settled_among(conn, tenant=first.job.tenant,
                                      locators=sorted(set(invoice_of.values())))
        service.set_jobs_data(conn, [c.job.locator for c in contexts
                                     if invoice_of[c.job.locator] in settled],
                              updated_at=first.clock.now(), delinquency_locators=[])
    opened = {}
    for context in contexts:
        if invoice_of[context.job.locator] not in settled:
            with context.db.begin() as conn:
                opened[context.job.locator] = _open(conn, context, ports)
    return [{"delinquencyLocators": opened.get(c.job.locator, [])} for c in contexts]


def _open(conn: sa.Connection, context: JobContext, ports: Ports) -> list[str]:
    job = context.job
    opened = service.open_delinquency(
        conn, context.queue, ports, tenant=job.tenant, job_locator=job.locator,
        invoice_locator=str(job.reference_locator),
        by=str(job.payload.get("createdBy", NIL_UUID)))
    _record(conn, context, delinquency_locators=opened)
    return opened


def run_grace(context: JobContext, ports: Ports) -> dict[str, Any]:
    """At grace end: lapse the delinquency, or find it settled."""
    job = context.job
    with context.db.begin() as conn:
        outcome = service.end_grace(conn, context.queue, ports, tenant=job.tenant,
                                    delinquency_locator=str(job.reference_locator),
                                    job_locator=job.locator)
        _record(conn, context, outcome=outcome)
    return {"outcome": outcome}


def run_event(context: JobContext, ports: Ports) -> dict[str, Any]:
    """At an event's trigger time: fire it."""
    job = context.job
    with context.db.begin() as conn:
        fired = service.fire_event(conn, context.queue, ports, tenant=job.tenant,
                                   event_locator=job.payload["delinquencyEventLocator"],
                                   job_locator=job.locator, by=NIL_UUID)
        _record(conn, context)
    return {"triggered": fired}


def _record(conn: sa.Connection, context: JobContext, **values: Any) -> None:
    service.set_job_data(conn, context.job.locator, updated_at=context.clock.now(), **values)
