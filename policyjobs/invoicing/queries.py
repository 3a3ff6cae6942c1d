"""Reading invoicing jobs and invoices, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.view import JOBS as jobs
from policyjobs.engine.view import (
    children_of,
    job_of_kind,
    list_reference_jobs,
    reference_params,
    scoped,
)
from policyjobs.exceptions import NotFound
from policyjobs.invoicing.models import (
    ACCOUNT,
    GENERATION,
    InvoicingType,
    account_credits,
    invoice_generation_references,
    invoice_items,
    invoice_payments,
    invoices,
    invoicing_jobs,
)
from policyjobs.store.job_data import data_missing, with_data
from policyjobs.store.readers import Reads, Row
from policyjobs.store.scoping import TENANT, by_locator, found, in_tenant, paged
from policyjobs.tenants.config import CoreConfig
from policyjobs.tenants.models import tenants


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


_RUNS = paged(sa.select(invoice_generation_references.c.job_locator)
              .where(invoice_generation_references.c.tenant == TENANT,
                     invoice_generation_references.c.reference_type
                     == sa.bindparam("reference_type"),
                     invoice_generation_references.c.reference_locator
                     == sa.bindparam("reference_locator"))
              .order_by(invoice_generation_references.c.job_locator))


# Generation runs by their locators, with their payloads.
_RUNS_BY_LOCATOR: sa.Select[Any] = sa.select(*scoped().selected_columns, jobs.c.payload).where(
    jobs.c.tenant == TENANT, jobs.c.kind == sa.bindparam("kind"),
    jobs.c.locator.in_(sa.bindparam("locators", expanding=True)))


async def generation_jobs(reads: Reads, *, tenant: str, reference_type: str,
                          reference_locator: str, offset: int,
                          limit: int) -> list[GenerationRecord]:
    """The generation runs that invoiced a quote's or a policy's installments, oldest first."""
    links = [row.job_locator for row in await reads.all(_RUNS, {
        "tenant": tenant, "reference_type": reference_type,
        "reference_locator": reference_locator, "offset": offset, "limit": limit})]
    if not links:
        return []
    rows = {row.locator: row for row in await reads.all(
        _RUNS_BY_LOCATOR, {"tenant": tenant, "kind": GENERATION, "locators": links})}
    return await _with_instances(reads, [rows[locator] for locator in links if locator in rows])


async def _with_instances(reads: Reads, runs: Sequence[Row]) -> list[GenerationRecord]:
    instances: dict[str, list[Row]] = {run.locator: [] for run in runs}
    for child in await children_of(reads, list(instances)):
        instances[child.parent_locator].append(child)
    children = [c.locator for found in instances.values() for c in found]
    data, made = await _data(reads, children), await _invoice_locators(reads, children)
    return [GenerationRecord(run, [
        InstanceRecord(c, data.get(c.locator), next(iter(made.get(c.locator, ())), None))
        for c in instances[run.locator]]) for run in runs]


_DATA = sa.select(invoicing_jobs).where(
    invoicing_jobs.c.job_locator.in_(sa.bindparam("jobs", expanding=True)))


async def _data(reads: Reads, locators: Sequence[str]) -> dict[str, Row]:
    if not locators:
        return {}
    return {row.job_locator: row for row in await reads.all(_DATA, {"jobs": list(locators)})}


_MADE = (sa.select(invoices.c.job_locator, invoices.c.locator)
         .where(invoices.c.job_locator.in_(sa.bindparam("jobs", expanding=True)))
         .order_by(invoices.c.locator))


async def _invoice_locators(reads: Reads, jobs_: Sequence[str]) -> dict[str, list[str]]:
    made: dict[str, list[str]] = {job: [] for job in jobs_}
    if jobs_:
        for row in await reads.all(_MADE, {"jobs": list(jobs_)}):
            made[row.job_locator].append(row.locator)
    return made


_EARLY_JOBS = paged(scoped(invoicing_jobs.c.invoicing_type)
                    .join_from(jobs, invoicing_jobs,
                               invoicing_jobs.c.job_locator == jobs.c.locator)
                    .where(invoicing_jobs.c.invoicing_type == InvoicingType.EARLY)
                    .order_by(jobs.c.locator))


async def account_jobs(reads: Reads, *, tenant: str, account: str, offset: int, limit: int,
                       early_only: bool = False) -> list[AccountJobRecord]:
    """An account's immediate and early invoicing jobs (or its early ones), oldest first."""
    if early_only:
        rows = await reads.all(_EARLY_JOBS, reference_params(
            tenant, "account", account, [ACCOUNT], offset=offset, limit=limit))
    else:
        rows = await list_reference_jobs(reads, tenant=tenant, reference_type="account",
                                         reference_locator=account, kinds=[ACCOUNT],
                                         offset=offset, limit=limit)
    return await _account_records(reads, rows)


async def account_job(reads: Reads, *, tenant: str, locator: str,
                      early_only: bool = False) -> AccountJobRecord:
    """One immediate or early invoicing job of the tenant, or `NotFound`."""
    row = await job_of_kind(reads, tenant=tenant, kind=ACCOUNT, locator=locator)
    records = await _account_records(reads, [row])
    if not records:
        raise data_missing(invoicing_jobs, locator)
    [record] = records
    if early_only and record.data.invoicing_type != InvoicingType.EARLY:
        raise NotFound(f"no early invoicing job {locator}")
    return record


async def _account_records(reads: Reads, rows: Sequence[Row]) -> list[AccountJobRecord]:
    data = await _data(reads, [row.locator for row in rows])
    made = await _invoice_locators(reads, [row.locator for row in rows])
    return [AccountJobRecord(row, data[row.locator], made[row.locator])
            for row in with_data(invoicing_jobs, rows, data, lambda row: str(row.locator))]


_INVOICE = by_locator(invoices)
_ITEMS = (sa.select(invoice_items).where(invoice_items.c.invoice_locator == sa.bindparam("invoice"))
          .order_by(invoice_items.c.locator))
_PAYMENTS = (sa.select(invoice_payments)
             .where(invoice_payments.c.invoice_locator == sa.bindparam("invoice"))
             .order_by(invoice_payments.c.locator))


async def invoice(reads: Reads, *, tenant: str, locator: str) -> InvoiceRecord:
    """One invoice with its items and payments, or `NotFound`."""
    row = found(await reads.first(_INVOICE, {"tenant": tenant, "locator": locator}),
                f"no invoice {locator}")
    items = await reads.all(_ITEMS, {"invoice": locator})
    payments = await reads.all(_PAYMENTS, {"invoice": locator})
    return InvoiceRecord(row, items, payments)


_ACCOUNT_INVOICES = (in_tenant(invoices, TENANT)
                     .where(invoices.c.account_locator == sa.bindparam("account")))
_ACCOUNT_INVOICES_BY_ZERO = {
    True: paged(_ACCOUNT_INVOICES.order_by(invoices.c.locator)),
    False: paged(_ACCOUNT_INVOICES.where(sa.cast(invoices.c.total, sa.Numeric) != 0)
                 .order_by(invoices.c.locator)),
}


async def account_invoices(reads: Reads, *, tenant: str, account: str, offset: int,
                           limit: int, include_zero: bool) -> Sequence[Row]:
    """An account's invoices, oldest first; without those of zero total unless asked."""
    return await reads.all(_ACCOUNT_INVOICES_BY_ZERO[include_zero], {
        "tenant": tenant, "account": account, "offset": offset, "limit": limit})


_CREDIT = sa.select(account_credits.c.amount).where(
    account_credits.c.tenant == TENANT,
    account_credits.c.account_locator == sa.bindparam("account"),
    account_credits.c.currency == sa.bindparam("currency"))
_CONFIG = sa.select(tenants.c.config).where(tenants.c.locator == TENANT)


_ANY_CREDIT = sa.select(account_credits.c.currency).where(
    account_credits.c.tenant == TENANT,
    account_credits.c.account_locator == sa.bindparam("account")).limit(1)
_ANY_INVOICE = (sa.select(invoices.c.locator)
                .where(invoices.c.tenant == TENANT,
                       invoices.c.account_locator == sa.bindparam("account")).limit(1))


async def account_credit(reads: Reads, *, tenant: str, account: str,
                         currency: str | None) -> tuple[str, Decimal]:
    """An account's credit in `currency` (the tenant's, if None): the currency and the
    amount, zero where it has none; `NotFound` for an account the tenant never invoiced
    nor credited."""
    if currency is None:
        row = await reads.first(_CONFIG, {"tenant": tenant})
        currency = CoreConfig.from_stored(row.config if row else {}).currency
    params = {"tenant": tenant, "account": account}
    found = await reads.first(_CREDIT, {**params, "currency": currency})
    if found is not None:
        return currency, Decimal(found.amount)
    if (await reads.first(_ANY_CREDIT, params) is None
            and await reads.first(_ANY_INVOICE, params) is None):
        raise NotFound(f"no invoice or credit of account {account} in this tenant")
    return currency, Decimal(0)



_WITH_CREDIT = (sa.select(account_credits)
                .where(account_credits.c.tenant == TENANT,
                       sa.cast(account_credits.c.amount, sa.Numeric()) > 0)
                .order_by(account_credits.c.updated_at.desc()).limit(sa.bindparam("limit")))


async def accounts_with_credit(reads: Reads, *, tenant: str, limit: int) -> Sequence[Row]:
    """The tenant's accounts that have credit, by currency, the most recently changed first."""
    return await reads.all(_WITH_CREDIT, {"tenant": tenant, "limit": limit})
