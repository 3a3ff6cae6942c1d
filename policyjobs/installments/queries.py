"""Reading installments jobs, installments and lattices for the API, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from policyjobs.api.conventions import days, set_present
from policyjobs.api.pagination import Page
from policyjobs.engine import public_status
from policyjobs.exceptions import NotFound
from policyjobs.installments.models import (
    installment_items,
    installment_jobs,
    installment_lattices,
    installments,
)
from policyjobs.installments.schemas import (
    Installment,
    InstallmentItem,
    InstallmentJobData,
    InstallmentLattice,
    InstallmentLatticeFrame,
)
from policyjobs.installments.service import KIND
from policyjobs.store.job_reads import list_reference_jobs, processing_errors


def job_data(conn: sa.Connection, *, tenant: str, reference_type: str, reference_locator: str,
             page: Page) -> list[InstallmentJobData]:
    """A page (plus one item) of a reference's installments jobs, oldest first."""
    rows = list_reference_jobs(conn, tenant=tenant, reference_type=reference_type,
                               reference_locator=reference_locator, kinds=[KIND],
                               offset=page.offset, limit=page.probe)
    extra = {r.job_locator: r for r in conn.execute(
        sa.select(installment_jobs)
        .where(installment_jobs.c.job_locator.in_([row.locator for row in rows])))}
    return [_job_data(row, extra[row.locator]) for row in rows]


def _job_data(row: Any, extra: Any) -> InstallmentJobData:
    return InstallmentJobData(
        locator=row.locator, latticeLocator=extra.lattice_locator,
        referenceLocator=row.reference_locator, completedAt=row.finished_at,
        installmentLocators=extra.installment_locators if extra.done_at else None,
        jobStatus=public_status(row.status), jobType=extra.job_type,
        processingErrors=processing_errors(row.errors), referenceType=row.reference_type,
        createdAt=row.created_at)


def installment(conn: sa.Connection, *, tenant: str, locator: str) -> Installment:
    """One installment of the tenant, or `NotFound`."""
    row = conn.execute(sa.select(installments).where(installments.c.tenant == tenant,
                                                     installments.c.locator == locator)).first()
    if row is None:
        raise NotFound(f"no installment {locator}")
    return _with_items(conn, [row])[0]


def installments_of(conn: sa.Connection, *, tenant: str, quote: str | None = None,
                    transaction: str | None = None, page: Page) -> list[Installment]:
    """A page (plus one) of a quote's current installments, or of a transaction's."""
    query = sa.select(installments).where(installments.c.tenant == tenant)
    if quote is not None:
        query = query.where(installments.c.quote_locator == quote,
                            installments.c.invalidated_at.is_(None))
    else:
        query = query.where(installments.c.transaction_locator == transaction)
    rows = conn.execute(query.order_by(installments.c.locator)
                        .offset(page.offset).limit(page.probe)).all()
    return _with_items(conn, rows)


def _with_items(conn: sa.Connection, rows: Sequence[Any]) -> list[Installment]:
    items: dict[str, list[InstallmentItem]] = {row.locator: [] for row in rows}
    for item in conn.execute(sa.select(installment_items)
                             .where(installment_items.c.installment_locator.in_(list(items)))
                             .order_by(installment_items.c.installment_locator,
                                       installment_items.c.locator)):
        items[item.installment_locator].append(_item(item))
    return [_installment(row, items[row.locator]) for row in rows]


def _item(row: Any) -> InstallmentItem:
    view = InstallmentItem(
        locator=row.locator, installmentLocator=row.installment_locator,
        chargeLocator=row.charge_locator, elementLocator=row.element_locator,
        elementStaticLocator=row.element_locator, chargeType=row.charge_type,
        chargeCategory=row.charge_type, amount=row.amount, createdAt=row.created_at,
        createdBy=row.created_by)
    set_present(view, invoiceItemLocator=row.invoice_item_locator,
                 reversalOfInstallmentItemLocator=row.reversal_of_item_locator)
    return view


def _installment(row: Any, items: list[InstallmentItem]) -> Installment:
    view = Installment(
        locator=row.locator, installmentLatticeLocator=row.lattice_locator,
        accountLocator=row.account_locator, currency=row.currency, timezone=row.timezone,
        installmentFrameIndex=row.frame_index, installmentStartTime=row.installment_start,
        installmentEndTime=row.installment_end, coverageStartTime=row.coverage_start,
        coverageEndTime=row.coverage_end,
        installmentDuration=days(row.installment_end - row.installment_start),
        coverageDuration=days(row.coverage_end - row.coverage_start),
        generateTime=row.generate_time, dueTime=row.due_time, createdAt=row.created_at,
        createdBy=row.created_by, updatedAt=row.updated_at, updatedBy=row.updated_by,
        installmentItems=items)
    set_present(view, quoteLocator=row.quote_locator, policyLocator=row.policy_locator,
                 transactionLocator=row.transaction_locator, termLocator=row.term_locator,
                 invoiceLocator=row.invoice_locator,
                 reversalOfInstallmentLocator=row.reversal_of_locator)
    return view


def lattice(conn: sa.Connection, *, tenant: str, locator: str) -> InstallmentLattice:
    """One lattice of the tenant, or `NotFound`."""
    row = conn.execute(sa.select(installment_lattices)
                       .where(installment_lattices.c.tenant == tenant,
                              installment_lattices.c.locator == locator)).first()
    if row is None:
        raise NotFound(f"no installment lattice {locator}")
    return _lattice(row)


def latest_quote_lattice(conn: sa.Connection, *, tenant: str, quote: str) -> InstallmentLattice:
    """The quote's current lattice, from its latest pricing, or `NotFound`."""
    row = conn.execute(sa.select(installment_lattices)
                       .where(installment_lattices.c.tenant == tenant,
                              installment_lattices.c.quote_locator == quote,
                              installment_lattices.c.invalidated_at.is_(None))
                       .order_by(installment_lattices.c.locator.desc()).limit(1)).first()
    if row is None:
        raise NotFound(f"no installment lattice for quote {quote}")
    return _lattice(row)


def _lattice(row: Any) -> InstallmentLattice:
    view = InstallmentLattice(
        locator=row.locator, accountLocator=row.account_locator,
        effectiveTime=row.effective_time, currency=row.currency, timezone=row.timezone,
        reversalLattice=row.reversal, termStartTime=row.term_start, termEndTime=row.term_end,
        createdAt=row.created_at, createdBy=row.created_by,
        frames=[_frame(frame) for frame in row.frames])
    set_present(view, termLocator=row.term_locator, quoteLocator=row.quote_locator,
                 policyLocator=row.policy_locator, basedOnLocator=row.based_on_locator)
    return view


def _frame(frame: dict[str, str]) -> InstallmentLatticeFrame:
    start, end = datetime.fromisoformat(frame["start"]), datetime.fromisoformat(frame["end"])
    due = datetime.fromisoformat(frame["due"])
    return InstallmentLatticeFrame(
        installmentStartTime=start, installmentEndTime=end, coverageStartTime=start,
        coverageEndTime=end, installmentDuration=days(end - start),
        normalizedWeight=Decimal(frame["weight"]), coverageDuration=days(end - start),
        generateTime=datetime.fromisoformat(frame["generate"]), dueTime=due, autopayTime=due)
