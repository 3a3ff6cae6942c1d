"""Payments: the platform reports one per invoice; what it pays beyond what the invoice owes
becomes the account's credit (`credit`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from policyjobs.domain import Intake, JobRef
from policyjobs.engine import new_locator
from policyjobs.exceptions import FieldProblem, InvalidInput
from policyjobs.invoicing import credit
from policyjobs.invoicing.events import PaymentEvent
from policyjobs.invoicing.invoices import INVOICE
from policyjobs.invoicing.models import InvoiceState, PaymentSource, invoice_payments, invoices
from policyjobs.invoicing.ports import InvoiceListeners, PaymentApplied
from policyjobs.money import currency_quantum
from policyjobs.store.scoping import TENANT, in_tenant
from policyjobs.store.writes import insert_all


def on_payment(intake: Intake, event: PaymentEvent, listeners: InvoiceListeners) -> list[JobRef]:
    """Record a payment against its invoice, which is settled once payments reach its total;
    what it pays beyond what the invoice owes becomes the account's credit, which pays its
    other open invoices, oldest first. `listeners` hear of the payment and of each
    settlement in the same transaction."""
    found = intake.conn.execute(INVOICE, {"tenant": intake.tenant,
                                           "locator": event.invoiceLocator}).first()
    _refuse(event, found)
    [jobs] = _record(intake, [event], {event.invoiceLocator: found}, listeners)
    return jobs


def on_payments(intake: Intake, events: Sequence[PaymentEvent],
                listeners: InvoiceListeners) -> list[list[JobRef]] | None:
    """Several payments, in their order, each as `on_payment` records it, their invoices
    read in one statement; None, having written nothing, if any would be refused."""
    found = {row.locator: row for row in intake.conn.execute(_INVOICES, {
        "tenant": intake.tenant, "locators": sorted({e.invoiceLocator for e in events})})}
    try:
        for event in events:
            _refuse(event, found.get(event.invoiceLocator))
    except InvalidInput:
        return None
    return _record(intake, events, found, listeners)


_INVOICES = in_tenant(invoices, TENANT).where(
    invoices.c.locator.in_(sa.bindparam("locators", expanding=True)))
_HELD = _INVOICES.order_by(invoices.c.locator).with_for_update()
_PAY = invoices.update().where(invoices.c.locator == sa.bindparam("invoice"))


def _refuse(event: PaymentEvent, found: Any) -> None:
    """Raise `InvalidInput` if the payment cannot be taken against its invoice `found`."""
    if found is None:
        raise InvalidInput(f"no invoice {event.invoiceLocator}", [
            FieldProblem("invoiceLocator", f"no invoice {event.invoiceLocator} in this tenant")])
    problems = []
    if event.currency != found.currency:
        problems.append(FieldProblem("currency", f"the invoice is in {found.currency}, "
                                                 f"not {event.currency}"))
    elif event.amount != event.amount.quantize(currency_quantum(found.currency)):
        problems.append(FieldProblem("amount", f"{event.amount} is finer than "
                                               f"{found.currency}'s minor unit"))
    if event.amount <= 0:
        problems.append(FieldProblem("amount", "a payment is more than zero"))
    if problems:
        raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in problems), problems)


@dataclass(slots=True)
class _Owing:
    """An invoice as the payments of one transaction leave it."""

    locator: str
    account: credit.Account
    total: Decimal
    paid: Decimal
    state: str
    changed: bool = False

    @classmethod
    def held(cls, row: Any) -> _Owing:
        return cls(row.locator, credit.Account(row.tenant, row.account_locator, row.currency),
                   row.total, row.paid, row.state)

    def pay(self, amount: Decimal) -> Decimal:
        """Take what of `amount` the invoice still owes; what it took."""
        owed = self.total - self.paid if self.state == InvoiceState.OPEN else Decimal(0)
        applied = min(amount, max(owed, Decimal(0)))
        if applied > 0:
            self.paid += applied
            self.changed = True
            if self.paid >= self.total:
                self.state = InvoiceState.SETTLED
        return applied


def _record(intake: Intake, events: Sequence[PaymentEvent], found: Mapping[str, Any],
            listeners: InvoiceListeners) -> list[list[JobRef]]:
    """Record payments already checked against their invoices (`found`, read without a
    lock), in their order: the accounts' credits held, then the invoices (see `credit`),
    each in one statement; the payments written in one, and the invoices they changed in
    one executemany. A payment beyond what its invoice owes pays the account's other open
    invoices from its credit, which reads them: the invoices changed so far are written
    first, and the account's read again after."""
    conn, tenant, now = intake.conn, intake.tenant, intake.queue.clock.now()
    balances = credit.lock_all(conn, [credit.Account(tenant, row.account_locator, row.currency)
                                      for row in found.values()], now)
    held = {row.locator: _Owing.held(row) for row in conn.execute(_HELD, {
        "tenant": tenant, "locators": sorted(found)})}
    payments: list[dict[str, Any]] = []
    settled: list[str] = []
    for event in events:
        invoice = held[event.invoiceLocator]
        applied = invoice.pay(event.amount)
        payment = new_locator()
        payments.append({
            "locator": payment, "tenant": tenant, "invoice_locator": invoice.locator,
            "amount": event.amount, "currency": event.currency,
            "source": PaymentSource.PAYMENT, "credited": event.amount - applied,
            "received_at": now, "created_by": intake.created_by})
        listeners.payment_applied(conn, intake.queue, PaymentApplied(
            tenant, payment, invoice.locator, invoice.account.locator))
        if applied > 0 and invoice.state == InvoiceState.SETTLED:  # this payment settled it
            settled.append(invoice.locator)
        if applied < event.amount:  # beyond what the invoice owed: the account's credit
            _write(conn, held.values(), now)
            account = invoice.account
            balances[account] = credit.use(
                conn, account, balances[account] + event.amount - applied, now=now,
                by=intake.created_by, settled=settled.append)
            mine = sorted(locator for locator, owing in held.items() if owing.account == account)
            held |= {row.locator: _Owing.held(row) for row in conn.execute(
                _HELD, {"tenant": tenant, "locators": mine})}
    _write(conn, held.values(), now)
    insert_all(conn, invoice_payments, payments)
    listeners.invoices_settled(conn, intake.queue, tenant, settled)
    return [[] for _ in events]


def _write(conn: sa.Connection, held: Iterable[_Owing], now: datetime) -> None:
    """Write the invoices payments changed, and note them unchanged."""
    changed = [invoice for invoice in held if invoice.changed]
    if changed:
        conn.execute(_PAY, [{"invoice": invoice.locator, "paid": invoice.paid,
                             "state": invoice.state,
                             "settled_time": now if invoice.state == InvoiceState.SETTLED
                             else None} for invoice in changed])
    for invoice in changed:
        invoice.changed = False
