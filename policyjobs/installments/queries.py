"""Reading installments jobs, installments and lattices, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from policyjobs.installments.models import (
    KIND,
    installment_items,
    installment_jobs,
    installment_lattices,
    installments,
)
from policyjobs.store.job_data import JobRecord, job_data_of, reference_jobs_with_data
from policyjobs.store.readers import Reads, Row
from policyjobs.store.scoping import TENANT, by_locator, found, in_tenant, paged


@dataclass(frozen=True, slots=True)
class InstallmentRecord:
    """An installment row and its item rows, in locator order."""

    installment: Row
    items: Sequence[Row]


_JOB_DATA = job_data_of(installment_jobs)


async def job_records(reads: Reads, *, tenant: str, reference_type: str,
                      reference_locator: str, offset: int, limit: int) -> list[JobRecord]:
    """Up to `limit` of a reference's installments jobs from `offset`, oldest first."""
    return await reference_jobs_with_data(
        reads, _JOB_DATA, tenant=tenant, reference_type=reference_type,
        reference_locator=reference_locator, kind=KIND, offset=offset, limit=limit)


_INSTALLMENT = by_locator(installments)


async def installment(reads: Reads, *, tenant: str, locator: str) -> InstallmentRecord:
    """One installment of the tenant, or `NotFound`."""
    row = found(await reads.first(_INSTALLMENT, {"tenant": tenant, "locator": locator}),
                f"no installment {locator}")
    return (await _with_items(reads, [row]))[0]


_OF_QUOTE = paged(in_tenant(installments, TENANT)
                  .where(installments.c.quote_locator == sa.bindparam("quote"),
                         installments.c.invalidated_at.is_(None))
                  .order_by(installments.c.locator))
_OF_TRANSACTION = paged(in_tenant(installments, TENANT)
                        .where(installments.c.transaction_locator == sa.bindparam("transaction"))
                        .order_by(installments.c.locator))


async def installments_of(reads: Reads, *, tenant: str, quote: str | None = None,
                          transaction: str | None = None, offset: int,
                          limit: int) -> list[InstallmentRecord]:
    """Up to `limit` from `offset` of a quote's current installments, or of a transaction's."""
    page = {"tenant": tenant, "offset": offset, "limit": limit}
    if quote is not None:
        rows = await reads.all(_OF_QUOTE, page | {"quote": quote})
    else:
        rows = await reads.all(_OF_TRANSACTION, page | {"transaction": transaction})
    return await _with_items(reads, rows)


_ITEMS = (sa.select(installment_items)
          .where(installment_items.c.installment_locator.in_(
              sa.bindparam("installments", expanding=True)))
          .order_by(installment_items.c.installment_locator, installment_items.c.locator))


async def _with_items(reads: Reads, rows: Sequence[Row]) -> list[InstallmentRecord]:
    if not rows:
        return []
    items: dict[str, list[Row]] = {row.locator: [] for row in rows}
    for item in await reads.all(_ITEMS, {"installments": list(items)}):
        items[item.installment_locator].append(item)
    return [InstallmentRecord(row, items[row.locator]) for row in rows]


_LATTICE = by_locator(installment_lattices)


async def lattice(reads: Reads, *, tenant: str, locator: str) -> Row:
    """One lattice of the tenant, or `NotFound`."""
    return found(await reads.first(_LATTICE, {"tenant": tenant, "locator": locator}),
                 f"no installment lattice {locator}")


_QUOTE_LATTICE = (in_tenant(installment_lattices, TENANT)
                  .where(installment_lattices.c.quote_locator == sa.bindparam("quote"),
                         installment_lattices.c.invalidated_at.is_(None))
                  .order_by(installment_lattices.c.locator.desc()).limit(1))


async def latest_quote_lattice(reads: Reads, *, tenant: str, quote: str) -> Row:
    """The quote's current lattice, from its latest pricing, or `NotFound`."""
    return found(await reads.first(_QUOTE_LATTICE, {"tenant": tenant, "quote": quote}),
                 f"no installment lattice for quote {quote}")
