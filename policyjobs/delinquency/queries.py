"""Reading delinquency jobs, delinquencies and their events, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from policyjobs.delinquency.models import delinquencies, delinquency_events, delinquency_jobs
from policyjobs.store.reads import found, in_tenant, list_reference_jobs

Row = sa.Row[Any]


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A delinquency job: its job row and its `delinquency_jobs` row."""

    job: Row
    data: Row


def job_records(conn: sa.Connection, *, tenant: str, reference_type: str,
                reference_locator: str, kind: str, offset: int,
                limit: int) -> list[JobRecord]:
    """Up to `limit` of one kind of job of an invoice or a delinquency, oldest first."""
    rows = list_reference_jobs(conn, tenant=tenant, reference_type=reference_type,
                               reference_locator=reference_locator, kinds=[kind],
                               offset=offset, limit=limit)
    data = {r.job_locator: r for r in conn.execute(
        in_tenant(delinquency_jobs, tenant)
        .where(delinquency_jobs.c.job_locator.in_([row.locator for row in rows])))}
    return [JobRecord(row, data[row.locator]) for row in rows]


def delinquency(conn: sa.Connection, *, tenant: str, locator: str) -> Row:
    """One delinquency of the tenant, or `NotFound`."""
    return found(conn.execute(in_tenant(delinquencies, tenant)
                              .where(delinquencies.c.locator == locator)).first(),
                 f"no delinquency {locator}")


def of_invoice(conn: sa.Connection, *, tenant: str, invoice: str, offset: int,
               limit: int) -> Sequence[Row]:
    """An invoice's delinquencies (one at most), oldest first."""
    return conn.execute(in_tenant(delinquencies, tenant)
                        .where(delinquencies.c.invoice_locator == invoice)
                        .order_by(delinquencies.c.locator).offset(offset).limit(limit)).all()


def event(conn: sa.Connection, *, tenant: str, locator: str) -> Row:
    """One delinquency event of the tenant, or `NotFound`."""
    return found(conn.execute(in_tenant(delinquency_events, tenant)
                              .where(delinquency_events.c.locator == locator)).first(),
                 f"no delinquency event {locator}")


def events_of(conn: sa.Connection, *, tenant: str, delinquency_locator: str, offset: int,
              limit: int) -> Sequence[Row]:
    """A delinquency's events, oldest first."""
    return conn.execute(in_tenant(delinquency_events, tenant)
                        .where(delinquency_events.c.delinquency_locator == delinquency_locator)
                        .order_by(delinquency_events.c.locator)
                        .offset(offset).limit(limit)).all()
