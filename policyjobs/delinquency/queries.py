"""Reading delinquency jobs, delinquencies and their events, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from policyjobs.delinquency.models import delinquencies, delinquency_events, delinquency_jobs
from policyjobs.store.job_data import JobRecord, job_data_of, reference_jobs_with_data
from policyjobs.store.readers import Reads, Row
from policyjobs.store.scoping import TENANT, by_locator, found, in_tenant, paged

_JOB_DATA = job_data_of(delinquency_jobs)


async def job_records(reads: Reads, *, tenant: str, reference_type: str,
                      reference_locator: str, kind: str, offset: int,
                      limit: int) -> list[JobRecord]:
    """Up to `limit` of one kind of job of an invoice or a delinquency, oldest first."""
    return await reference_jobs_with_data(
        reads, _JOB_DATA, tenant=tenant, reference_type=reference_type,
        reference_locator=reference_locator, kind=kind, offset=offset, limit=limit)


_DELINQUENCY = by_locator(delinquencies)


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


_EVENT = by_locator(delinquency_events)


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
