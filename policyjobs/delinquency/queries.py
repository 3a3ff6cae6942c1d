"""Reading delinquency jobs, delinquencies and their events, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from policyjobs.delinquency.models import delinquencies, delinquency_events, delinquency_jobs
from policyjobs.store.readers import Reads, Row
from policyjobs.store.reads import TENANT, found, in_tenant, list_reference_jobs, paged


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A delinquency job: its job row and its `delinquency_jobs` row."""

    job: Row
    data: Row


_JOB_DATA = in_tenant(delinquency_jobs, TENANT).where(
    delinquency_jobs.c.job_locator.in_(sa.bindparam("jobs", expanding=True)))


async def job_records(reads: Reads, *, tenant: str, reference_type: str,
                      reference_locator: str, kind: str, offset: int,
                      limit: int) -> list[JobRecord]:
    """Up to `limit` of one kind of job of an invoice or a delinquency, oldest first."""
    rows = await list_reference_jobs(reads, tenant=tenant, reference_type=reference_type,
                                     reference_locator=reference_locator, kinds=[kind],
                                     offset=offset, limit=limit)
    if not rows:
        return []
    data = {r.job_locator: r for r in await reads.all(
        _JOB_DATA, {"tenant": tenant, "jobs": [row.locator for row in rows]})}
    return [JobRecord(row, data[row.locator]) for row in rows]


_DELINQUENCY = in_tenant(delinquencies, TENANT).where(
    delinquencies.c.locator == sa.bindparam("locator"))


async def delinquency(reads: Reads, *, tenant: str, locator: str) -> Row:
    """One delinquency of the tenant, or `NotFound`."""
    return found(await reads.first(_DELINQUENCY, {"tenant": tenant, "locator": locator}),
                 f"no delinquency {locator}")


_OF_INVOICE = paged(in_tenant(delinquencies, TENANT)
                    .where(delinquencies.c.invoice_locator == sa.bindparam("invoice"))
                    .order_by(delinquencies.c.locator))


async def of_invoice(reads: Reads, *, tenant: str, invoice: str, offset: int,
                     limit: int) -> Sequence[Row]:
    """An invoice's delinquencies (one at most), oldest first."""
    return await reads.all(_OF_INVOICE, {"tenant": tenant, "invoice": invoice,
                                         "offset": offset, "limit": limit})


_EVENT = in_tenant(delinquency_events, TENANT).where(
    delinquency_events.c.locator == sa.bindparam("locator"))


async def event(reads: Reads, *, tenant: str, locator: str) -> Row:
    """One delinquency event of the tenant, or `NotFound`."""
    return found(await reads.first(_EVENT, {"tenant": tenant, "locator": locator}),
                 f"no delinquency event {locator}")


_EVENTS = paged(in_tenant(delinquency_events, TENANT)
                .where(delinquency_events.c.delinquency_locator == sa.bindparam("delinquency"))
                .order_by(delinquency_events.c.locator))


async def events_of(reads: Reads, *, tenant: str, delinquency_locator: str, offset: int,
                    limit: int) -> Sequence[Row]:
    """A delinquency's events, oldest first."""
    return await reads.all(_EVENTS, {"tenant": tenant, "delinquency": delinquency_locator,
                                     "offset": offset, "limit": limit})
