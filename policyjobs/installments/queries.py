"""Reading installments jobs, installments and lattices, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from policyjobs.installments.models import (
    KIND,
    installment_items,
    installment_jobs,
    installment_lattices,
    installments,
)
from policyjobs.store.reads import found, in_tenant, list_reference_jobs

Row = sa.Row[Any]


@dataclass(frozen=True, slots=True)
class JobRecord:
    """An installments job: its job row and its `installment_jobs` row."""

    job: Row
    data: Row


@dataclass(frozen=True, slots=True)
class InstallmentRecord:
    """An installment row and its item rows, in locator order."""

    installment: Row
    items: Sequence[Row]


def job_records(conn: sa.Connection, *, tenant: str, reference_type: str,
                reference_locator: str, offset: int, limit: int) -> list[JobRecord]:
    """Up to `limit` of a reference's installments jobs from `offset`, oldest first."""
    rows = list_reference_jobs(conn, tenant=tenant, reference_type=reference_type,
                               reference_locator=reference_locator, kinds=[KIND],
                               offset=offset, limit=limit)
    data = {r.job_locator: r for r in conn.execute(
        in_tenant(installment_jobs, tenant)
        .where(installment_jobs.c.job_locator.in_([row.locator for row in rows])))}
    return [JobRecord(row, data[row.locator]) for row in rows]


def installment(conn: sa.Connection, *, tenant: str, locator: str) -> InstallmentRecord:
    """One installment of the tenant, or `NotFound`."""
    row = found(conn.execute(in_tenant(installments, tenant)
                             .where(installments.c.locator == locator)).first(),
                f"no installment {locator}")
    return _with_items(conn, [row])[0]


def installments_of(conn: sa.Connection, *, tenant: str, quote: str | None = None,
                    transaction: str | None = None, offset: int,
                    limit: int) -> list[InstallmentRecord]:
    """Up to `limit` from `offset` of a quote's current installments, or of a transaction's."""
    query = in_tenant(installments, tenant)
    if quote is not None:
        query = query.where(installments.c.quote_locator == quote,
                            installments.c.invalidated_at.is_(None))
    else:
        query = query.where(installments.c.transaction_locator == transaction)
    rows = conn.execute(query.order_by(installments.c.locator)
                        .offset(offset).limit(limit)).all()
    return _with_items(conn, rows)


def _with_items(conn: sa.Connection, rows: Sequence[Row]) -> list[InstallmentRecord]:
    items: dict[str, list[Row]] = {row.locator: [] for row in rows}
    for item in conn.execute(sa.select(installment_items)
                             .where(installment_items.c.installment_locator.in_(list(items)))
                             .order_by(installment_items.c.installment_locator,
                                       installment_items.c.locator)):
        items[item.installment_locator].append(item)
    return [InstallmentRecord(row, items[row.locator]) for row in rows]


def lattice(conn: sa.Connection, *, tenant: str, locator: str) -> Row:
    """One lattice of the tenant, or `NotFound`."""
    return found(conn.execute(in_tenant(installment_lattices, tenant)
                              .where(installment_lattices.c.locator == locator)).first(),
                 f"no installment lattice {locator}")


def latest_quote_lattice(conn: sa.Connection, *, tenant: str, quote: str) -> Row:
    """The quote's current lattice, from its latest pricing, or `NotFound`."""
    return found(conn.execute(in_tenant(installment_lattices, tenant)
                              .where(installment_lattices.c.quote_locator == quote,
                                     installment_lattices.c.invalidated_at.is_(None))
                              .order_by(installment_lattices.c.locator.desc())
                              .limit(1)).first(),
                 f"no installment lattice for quote {quote}")
