"""Invoices from installments: what every invoice is made by, and what other domains may read
of one.

Every invoice is made by `invoice`, in the transaction of the job that makes it: it locks
the installments it bills, marks them invoiced through the installments domain (`ports`),
and writes the invoice and one item per installment item, whose unique key keeps any
installment item from being billed twice. An invoice bills one account in one currency; its
due time is the earliest of its installments' that owe money, or when it is made if none
does (an invoice of credits alone), unless early invoicing names one. An invoice that owes
nothing is settled when it is made: a credit invoice, whose reversals credit more than the
rest bills, makes what it owes back the account's credit (`credit`). The listeners hear of
each invoice made or settled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import new_locator
from policyjobs.engine.queue import JobQueue
from policyjobs.invoicing import credit
from policyjobs.invoicing.models import (
    InvoiceState,
    InvoicingType,
    invoice_generation_references,
    invoice_items,
    invoices,
)
from policyjobs.invoicing.ports import Billable, InvoiceMade, Ports
from policyjobs.store.scoping import TENANT, in_tenant
from policyjobs.store.writes import insert_missing

# Statements of the hot paths, built once and bound per call.
INVOICE = in_tenant(invoices, TENANT).where(invoices.c.locator == sa.bindparam("locator"))
LOCKED_INVOICE = INVOICE.with_for_update()
_STATE = in_tenant(invoices, TENANT, invoices.c.state).where(
    invoices.c.locator == sa.bindparam("locator"))
_MADE_BY = sa.select(invoices.c.currency, invoices.c.locator).where(
    invoices.c.job_locator == sa.bindparam("job"))
_NEW_INVOICE = invoices.insert()
_NEW_ITEMS = invoice_items.insert()
_ITEMS_OF = (sa.select(invoice_items)
             .where(invoice_items.c.invoice_locator == sa.bindparam("invoice"))
             .order_by(invoice_items.c.locator))


@dataclass(frozen=True, slots=True)
class Invoicing:
    """Who invoices, how, and when: what every invoice of one job shares."""

    conn: sa.Connection
    queue: JobQueue
    ports: Ports
    tenant: str
    job_locator: str
    invoicing_type: InvoicingType
    generated: datetime
    now: datetime
    created_by: str
    due_time: datetime | None = None
    timezone: str | None = None
    generation_job: str | None = None  # the run an instance belongs to
    first_attempt: bool = False  # the job's first: no earlier attempt made an invoice


def invoice(work: Invoicing, installments: Sequence[Billable],
            locator: str | None = None) -> list[str]:
    """Invoice `installments`, one invoice per currency (`locator` names the first); the
    locators made. A job run again finds its invoices made and makes none."""
    by_currency: dict[str, list[Billable]] = {}
    for found in installments:
        by_currency.setdefault(found.currency, []).append(found)
    made_before = {} if work.first_attempt else {
        row.currency: row.locator for row in work.conn.execute(_MADE_BY, {"job": work.job_locator})}
    made = []
    for currency, group in sorted(by_currency.items()):
        if currency in made_before:
            made.append(made_before[currency])
            continue
        if (invoiced := _one_invoice(work, currency, group, locator or new_locator())):
            made.append(invoiced)
            locator = None
    return made


def _one_invoice(work: Invoicing, currency: str, group: list[Billable],
                 locator: str) -> str | None:
    """The invoice of `group`, or None if another invoice took them all first (they are
    locked by `billable`, so only a caller that did not lock them can see this)."""
    items = [(found, item, new_locator()) for found in group for item in found.items]
    billings: dict[str, dict[str, str]] = {found.locator: {} for found in group}
    for found, item, billed in items:
        billings[found.locator][item.locator] = billed
    taken = set(work.ports.installments.mark_invoiced(
        work.conn, tenant=work.tenant, installment_locators=list(billings),
        invoice_locator=locator, now=work.now, by=work.created_by, invoice_items=billings))
    items = [entry for entry in items if entry[0].locator in taken]
    group = [found for found in group if found.locator in taken]
    if not group:
        return None
    total = sum((item.amount for _, item, _ in items), Decimal(0))
    owing = [found.due_time for found in group if found.total > 0]  # not a credit's
    values: dict[str, Any] = {
        "locator": locator, "tenant": work.tenant, "job_locator": work.job_locator,
        "invoicing_type": work.invoicing_type, "account_locator": group[0].account_locator,
        "currency": currency, "timezone": work.timezone or group[0].timezone,
        "start_time": min(b.installment_start for b in group),
        "end_time": max(b.installment_end for b in group),
        "generated_time": work.generated,
        "due_time": work.due_time or (min(owing) if owing else work.generated),
        "total": total, "paid": Decimal(0),
        "state": InvoiceState.SETTLED if total <= 0 else InvoiceState.OPEN,
        "settled_time": work.now if total <= 0 else None,
        "created_at": work.now, "created_by": work.created_by,
    }
    work.conn.execute(_NEW_INVOICE, values)
    work.conn.execute(_NEW_ITEMS, [
        {"locator": billed, "tenant": work.tenant, "invoice_locator": locator,
         "installment_locator": found.locator, "installment_item_locator": item.locator,
         "charge_locator": item.charge_locator, "charge_type": item.charge_type,
         "element_locator": item.element_locator, "quote_locator": found.quote_locator,
         "policy_locator": found.policy_locator,
         "transaction_locator": found.transaction_locator, "amount": item.amount,
         "created_at": work.now}
        for found, item, billed in items])
    if work.generation_job:
        _link(work, group)
    _use_credit(work, credit.Account(work.tenant, values["account_locator"], currency), total)
    work.ports.listeners.invoice_made(work.conn, work.queue, InvoiceMade(
        work.tenant, locator, values["account_locator"], currency, values["timezone"],
        values["due_time"], total, work.created_by, _invoice_context(values, items)))
    return locator


def _use_credit(work: Invoicing, account: credit.Account, total: Decimal) -> None:
    """A new invoice uses the account's credit; a credit invoice's amount becomes credit,
    which pays the account's open invoices, oldest first."""
    balance = credit.lock(work.conn, account, work.now)
    if total < 0:
        balance -= total
    if balance > 0:
        credit.use(work.conn, account, balance, now=work.now, by=work.created_by,
                   settled=lambda invoice: work.ports.listeners.invoice_settled(
                       work.conn, work.queue, work.tenant, invoice))


def _link(work: Invoicing, group: list[Billable]) -> None:
    """Remember that this run invoiced these quotes' and policies' installments."""
    references = {("quote", b.quote_locator) for b in group if b.quote_locator} | {
        ("policy", b.policy_locator) for b in group if b.policy_locator}
    insert_missing(work.conn, invoice_generation_references, [
        {"tenant": work.tenant, "reference_type": reference_type,
         "reference_locator": reference_locator, "job_locator": work.generation_job}
        for reference_type, reference_locator in sorted(references)])


@dataclass(frozen=True, slots=True)
class InvoiceStanding:
    """Where an invoice stands: what other domains may read of it."""

    locator: str
    account_locator: str
    currency: str
    timezone: str
    due_time: datetime
    settled: bool


def lock_invoice(conn: sa.Connection, *, tenant: str, locator: str) -> InvoiceStanding:
    """An invoice of the tenant, its row held until the caller's transaction ends, so that a
    payment settling it and work that depends on whether it is settled take turns."""
    row = conn.execute(LOCKED_INVOICE, {"tenant": tenant, "locator": locator}).one()
    return InvoiceStanding(row.locator, row.account_locator, row.currency, row.timezone,
                           row.due_time, row.state == InvoiceState.SETTLED)


def is_settled(conn: sa.Connection, *, tenant: str, locator: str) -> bool:
    """Whether an invoice of the tenant is settled, read without a lock: an invoice once
    settled stays so, so a reader that finds it settled needs no lock to rely on it (one
    that does not, and acts on it, takes `lock_invoice`). False for no such invoice."""
    return conn.execute(_STATE, {"tenant": tenant, "locator": locator}).scalar() == \
        InvoiceState.SETTLED


def invoice_context(conn: sa.Connection, *, tenant: str, locator: str) -> dict[str, Any]:
    """An invoice with its items, as document templates see it."""
    row = conn.execute(INVOICE, {"tenant": tenant, "locator": locator}).one()
    items = conn.execute(_ITEMS_OF, {"invoice": locator}).all()
    values = dict(row._mapping)
    return {**_invoice_context(values, []), "invoiceState": row.state,
            "invoiceItems": [{"locator": item.locator, "chargeType": item.charge_type,
                              "chargeLocator": item.charge_locator, "amount": str(item.amount),
                              "installmentLocator": item.installment_locator,
                              "policyLocator": item.policy_locator,
                              "quoteLocator": item.quote_locator} for item in items]}


def _invoice_context(values: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    """An invoice as its documents' templates see it."""
    return {
        "locator": values["locator"], "accountLocator": values["account_locator"],
        "currency": values["currency"], "timezone": values["timezone"],
        "startTime": values["start_time"].isoformat(), "endTime": values["end_time"].isoformat(),
        "generatedTime": values["generated_time"].isoformat(),
        "dueTime": values["due_time"].isoformat(), "totalAmount": str(values["total"]),
        "invoiceItems": [{"locator": billed, "chargeType": item.charge_type,
                   "chargeLocator": item.charge_locator, "amount": str(item.amount),
                   "installmentLocator": found.locator,
                   "policyLocator": found.policy_locator, "quoteLocator": found.quote_locator}
                  for found, item, billed in items],
    }
