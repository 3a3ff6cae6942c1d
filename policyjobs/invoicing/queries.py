"""Reading invoicing jobs and invoices, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.schema import jobs
from policyjobs.exceptions import NotFound
from policyjobs.invoicing.models import (
    ACCOUNT,
    GENERATION,
    InvoicingType,
    invoice_generation_references,
    invoice_items,
    invoice_payments,
    invoices,
    invoicing_jobs,
)
from policyjobs.store.reads import (
    children_of,
    found,
    get_job,
    in_tenant,
    list_reference_jobs,
    reference_params,
    scoped,
)

Row = sa.Row[Any]


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One instance of a run: its job row, its data row and the invoice it made, if any."""

    job: Row
    data: Row | None
    invoice_locator: str | None


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """A generation run's job row (with its payload) and its instances."""

    job: Row
    instances: Sequence[InstanceRecord]


@dataclass(frozen=True, slots=True)
class AccountJobRecord:
    """An immediate or early invoicing job: its job row, its data and its invoices."""

    job: Row
    data: Row
    invoice_locators: Sequence[str]


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    """An invoice row, its item rows and its payment rows."""

    invoice: Row
    items: Sequence[Row]
    payments: Sequence[Row]


def generation_jobs(conn: sa.Connection, *, tenant: str, reference_type: str,
                    reference_locator: str, offset: int,
                    limit: int) -> list[GenerationRecord]:
    """The generation runs that invoiced a quote's or a policy's installments, oldest first."""
    links = conn.execute(
        sa.select(invoice_generation_references.c.job_locator)
        .where(invoice_generation_references.c.tenant == tenant,
               invoice_generation_references.c.reference_type == reference_type,
               invoice_generation_references.c.reference_locator == reference_locator)
        .order_by(invoice_generation_references.c.job_locator)
        .offset(offset).limit(limit)).scalars().all()
    rows = {row.locator: row for row in conn.execute(
        scoped_by_locators(), {"tenant": tenant, "kind": GENERATION, "locators": list(links)})}
    return _with_instances(conn, [rows[locator] for locator in links if locator in rows])


def scoped_by_locators() -> sa.Select[Any]:
    """Jobs of one kind in a tenant, by their locators, with their payloads."""
    statement: sa.Select[Any] = sa.select(*scoped().selected_columns, jobs.c.payload).where(
        jobs.c.tenant == sa.bindparam("tenant"), jobs.c.kind == sa.bindparam("kind"),
        jobs.c.locator.in_(sa.bindparam("locators", expanding=True)))
    return statement


def _with_instances(conn: sa.Connection, runs: Sequence[Row]) -> list[GenerationRecord]:
    instances: dict[str, list[Row]] = {run.locator: [] for run in runs}
    for child in children_of(conn, list(instances)):
        instances[child.parent_locator].append(child)
    children = [c.locator for found in instances.values() for c in found]
    data, made = _data(conn, children), _invoice_locators(conn, children)
    return [GenerationRecord(run, [
        InstanceRecord(c, data.get(c.locator), next(iter(made.get(c.locator, ())), None))
        for c in instances[run.locator]]) for run in runs]


def _data(conn: sa.Connection, locators: Sequence[str]) -> dict[str, Row]:
    if not locators:
        return {}
    return {row.job_locator: row for row in conn.execute(
        sa.select(invoicing_jobs).where(invoicing_jobs.c.job_locator.in_(list(locators))))}


def _invoice_locators(conn: sa.Connection, jobs_: Sequence[str]) -> dict[str, list[str]]:
    made: dict[str, list[str]] = {job: [] for job in jobs_}
    if jobs_:
        for row in conn.execute(sa.select(invoices.c.job_locator, invoices.c.locator)
                                .where(invoices.c.job_locator.in_(list(jobs_)))
                                .order_by(invoices.c.locator)):
            made[row.job_locator].append(row.locator)
    return made


def account_jobs(conn: sa.Connection, *, tenant: str, account: str, offset: int, limit: int,
                 early_only: bool = False) -> list[AccountJobRecord]:
    """An account's immediate and early invoicing jobs (or its early ones), oldest first."""
    if early_only:
        rows = conn.execute(
            scoped(invoicing_jobs.c.invoicing_type)
            .join_from(jobs, invoicing_jobs, invoicing_jobs.c.job_locator == jobs.c.locator)
            .where(invoicing_jobs.c.invoicing_type == InvoicingType.EARLY)
            .order_by(jobs.c.locator).offset(offset).limit(limit),
            reference_params(tenant, "account", account, [ACCOUNT])).all()
    else:
        rows = list(list_reference_jobs(conn, tenant=tenant, reference_type="account",
                                        reference_locator=account, kinds=[ACCOUNT],
                                        offset=offset, limit=limit))
    return _account_records(conn, rows)


def account_job(conn: sa.Connection, *, tenant: str, locator: str,
                early_only: bool = False) -> AccountJobRecord:
    """One immediate or early invoicing job of the tenant, or `NotFound`."""
    row = get_job(conn, tenant=tenant, kind=ACCOUNT, locator=locator)
    [record] = _account_records(conn, [row])
    if early_only and record.data.invoicing_type != InvoicingType.EARLY:
        raise NotFound(f"no early invoicing job {locator}")
    return record


def _account_records(conn: sa.Connection, rows: Sequence[Row]) -> list[AccountJobRecord]:
    data = _data(conn, [row.locator for row in rows])
    made = _invoice_locators(conn, [row.locator for row in rows])
    return [AccountJobRecord(row, data[row.locator], made[row.locator]) for row in rows]


def invoice(conn: sa.Connection, *, tenant: str, locator: str) -> InvoiceRecord:
    """One invoice with its items and payments, or `NotFound`."""
    row = found(conn.execute(in_tenant(invoices, tenant)
                             .where(invoices.c.locator == locator)).first(),
                f"no invoice {locator}")
    items = conn.execute(sa.select(invoice_items)
                         .where(invoice_items.c.invoice_locator == locator)
                         .order_by(invoice_items.c.locator)).all()
    payments = conn.execute(sa.select(invoice_payments)
                            .where(invoice_payments.c.invoice_locator == locator)
                            .order_by(invoice_payments.c.locator)).all()
    return InvoiceRecord(row, items, payments)


def account_invoices(conn: sa.Connection, *, tenant: str, account: str, offset: int,
                     limit: int, include_zero: bool) -> Sequence[Row]:
    """An account's invoices, oldest first; without those of zero total unless asked."""
    query = in_tenant(invoices, tenant).where(invoices.c.account_locator == account)
    if not include_zero:
        query = query.where(sa.cast(invoices.c.total, sa.Numeric) != 0)
    return conn.execute(query.order_by(invoices.c.locator).offset(offset).limit(limit)).all()
