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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
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
from policyjobs.invoicing.ports import Billable, BillableItem, InvoiceMade, Ports
from policyjobs.store.scoping import TENANT, in_tenant
from policyjobs.store.writes import insert_all, insert_missing

# Statements of the hot paths, built once and bound per call.
INVOICE = in_tenant(invoices, TENANT).where(invoices.c.locator == sa.bindparam("locator"))
LOCKED_INVOICE = INVOICE.with_for_update()
_SETTLED_AMONG = in_tenant(invoices, TENANT, invoices.c.locator).where(
    invoices.c.locator.in_(sa.bindparam("locators", expanding=True)),
    invoices.c.state == InvoiceState.SETTLED)
_MADE_BY = sa.select(invoices.c.currency, invoices.c.locator).where(
    invoices.c.job_locator == sa.bindparam("job"))
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


@dataclass(frozen=True, slots=True)
class Bill:
    """One invoice to make: who makes it, and the installments of one currency it bills
    (locked by `billable`)."""

    work: Invoicing
    currency: str
    group: Sequence[Billable]
    locator: str


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
        if (invoiced := invoice_all([Bill(work, currency, group, locator or new_locator())])[0]):
            made.append(invoiced)
            locator = None
    return made


def invoice_all(bills: Sequence[Bill]) -> list[str | None]:
    """Make each bill's invoice, all in the transaction of the first's `conn`, with one
    statement of each kind for them all (the installments are marked with the first's time
    and actor: a batch's bills share them): each invoice's locator, or None if another
    invoice took all its installments first (they are locked by `billable`, so only a
    caller that did not lock them can see this)."""
    if not bills:
        return []
    first = bills[0].work
    planned = [(bill, [(found, item, new_locator()) for found in bill.group
                       for item in found.items]) for bill in bills]
    billings: dict[str, dict[str, str]] = {}
    for bill, items in planned:
        for found in bill.group:
            billings[found.locator] = {}
        for found, item, billed in items:
            billings[found.locator][item.locator] = billed
    taken = first.ports.installments.mark_invoiced(
        first.conn, tenant=first.tenant, now=first.now, by=first.created_by,
        invoices={bill.locator: [found.locator for found in bill.group] for bill in bills},
        invoice_items=billings)
    made = [_made(bill, items, taken) for bill, items in planned]
    kept = [entry for entry in made if entry is not None]
    if not kept:
        return [None] * len(bills)
    conn, queue, listeners = first.conn, first.queue, first.ports.listeners
    insert_all(conn, invoices, [values for _, values, _ in kept])
    insert_all(conn, invoice_items, [
        {"locator": billed, "tenant": bill.work.tenant, "invoice_locator": bill.locator,
         "installment_locator": found.locator, "installment_item_locator": item.locator,
         "charge_locator": item.charge_locator, "charge_type": item.charge_type,
         "element_locator": item.element_locator, "quote_locator": found.quote_locator,
         "policy_locator": found.policy_locator,
         "transaction_locator": found.transaction_locator, "amount": item.amount,
         "created_at": bill.work.now}
        for bill, _, items in kept for found, item, billed in items])
    _link([bill for bill, _, _ in kept if bill.work.generation_job])
    _use_credit(kept)
    listeners.invoices_made(conn, queue, [InvoiceMade(
        bill.work.tenant, bill.locator, values["account_locator"], bill.currency,
        values["timezone"], values["due_time"], values["total"], bill.work.created_by,
        _invoice_context(values, items)) for bill, values, items in kept])
    return [None if entry is None else entry[0].locator for entry in made]


# An installment with one of its items and the invoice item that bills it.
Billed = tuple[Billable, BillableItem, str]


def _made(bill: Bill, items: list[Billed],
          taken: Mapping[str, str]) -> tuple[Bill, dict[str, Any], list[Billed]] | None:
    """The bill as marked (`taken`: installment → the invoice that took it), with its
    invoice's row and items, or None if it could take none of its installments."""
    work = bill.work
    items = [entry for entry in items if taken.get(entry[0].locator) == bill.locator]
    group = [found for found in bill.group if taken.get(found.locator) == bill.locator]
    if not group:
        return None
    total = sum((item.amount for _, item, _ in items), Decimal(0))
    owing = [found.due_time for found in group if found.total > 0]  # not a credit's
    values: dict[str, Any] = {
        "locator": bill.locator, "tenant": work.tenant, "job_locator": work.job_locator,
        "invoicing_type": work.invoicing_type, "account_locator": group[0].account_locator,
        "currency": bill.currency, "timezone": work.timezone or group[0].timezone,
        "start_time": min(b.installment_start for b in group),
        "end_time": max(b.installment_end for b in group),
        "generated_time": work.generated,
        "due_time": work.due_time or (min(owing) if owing else work.generated),
        "total": total, "paid": Decimal(0),
        "state": InvoiceState.SETTLED if total <= 0 else InvoiceState.OPEN,
        "settled_time": work.now if total <= 0 else None,
        "created_at": work.now, "created_by": work.created_by,
    }
    return Bill(work, bill.currency, group, bill.locator), values, items


def _use_credit(made: Sequence[tuple[Bill, dict[str, Any], list[Billed]]]) -> None:
    """Each new invoice uses its account's credit; a credit invoice's amount becomes
    credit, which pays the account's open invoices, oldest first. The accounts' credits
    are held in one statement, and used one account at a time where there is any."""
    work = made[0][0].work
    totals: dict[credit.Account, Decimal] = {}
    for bill, values, _ in made:
        account = credit.Account(bill.work.tenant, values["account_locator"], bill.currency)
        totals[account] = totals.get(account, Decimal(0)) + min(values["total"], Decimal(0))
    balances = credit.lock_all(work.conn, list(totals), work.now)
    for account, credited in totals.items():
        balance = balances[account] - credited
        if balance > 0:
            credit.use(work.conn, account, balance, now=work.now, by=work.created_by,
                       settled=partial(work.ports.listeners.invoice_settled, work.conn,
                                       work.queue, account.tenant))


def _link(bills: Sequence[Bill]) -> None:
    """Remember that each bill's run invoiced these quotes' and policies' installments."""
    if not bills:
        return
    references = {(bill.work.tenant, reference, bill.work.generation_job)
                  for bill in bills for found in bill.group
                  for reference in (("quote", found.quote_locator),
                                    ("policy", found.policy_locator)) if reference[1]}
    insert_missing(bills[0].work.conn, invoice_generation_references, [
        {"tenant": tenant, "reference_type": reference_type,
         "reference_locator": reference_locator, "job_locator": job}
        for tenant, (reference_type, reference_locator), job in sorted(references)])


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


def settled_among(conn: sa.Connection, *, tenant: str, locators: Sequence[str]) -> set[str]:
    """Which of the tenant's invoices `locators` are settled, read without a lock: an
    invoice once settled stays so, so a reader that finds it settled needs no lock to rely
    on it (one that does not, and acts on it, takes `lock_invoice`). An invoice the tenant
    does not have is not among them."""
    return set(conn.execute(_SETTLED_AMONG, {"tenant": tenant,
                                             "locators": list(locators)}).scalars())


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
