"""Payments: the platform reports one per invoice; what it pays beyond what the invoice owes
becomes the account's credit (`credit`)."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from policyjobs.domain import Intake, JobRef
from policyjobs.engine import new_locator
from policyjobs.exceptions import FieldProblem, InvalidInput
from policyjobs.invoicing import credit
from policyjobs.invoicing.events import PaymentEvent
from policyjobs.invoicing.invoices import INVOICE, LOCKED_INVOICE
from policyjobs.invoicing.models import InvoiceState, PaymentSource, invoice_payments, invoices
from policyjobs.invoicing.ports import InvoiceListeners, PaymentApplied
from policyjobs.money import currency_quantum

_PAY = invoices.update().where(invoices.c.locator == sa.bindparam("invoice"))


def on_payment(intake: Intake, event: PaymentEvent, listeners: InvoiceListeners) -> list[JobRef]:
    """Record a payment against its invoice, which is settled once payments reach its total;
    what it pays beyond what the invoice owes becomes the account's credit, which pays its
    other open invoices, oldest first. `listeners` hear of the payment and of each
    settlement in the same transaction."""
    found = intake.conn.execute(INVOICE, {"tenant": intake.tenant,
                                           "locator": event.invoiceLocator}).first()
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
    now = intake.queue.clock.now()
    account = credit.Account(intake.tenant, found.account_locator, found.currency)
    balance = credit.lock(intake.conn, account, now)  # before the invoice: see `credit`
    found = intake.conn.execute(LOCKED_INVOICE, {"tenant": intake.tenant,
                                                  "locator": found.locator}).one()
    owed = found.total - found.paid if found.state == InvoiceState.OPEN else Decimal(0)
    applied = min(event.amount, max(owed, Decimal(0)))
    payment = new_locator()
    intake.conn.execute(invoice_payments.insert(), {
        "locator": payment, "tenant": intake.tenant, "invoice_locator": found.locator,
        "amount": event.amount, "currency": event.currency, "source": PaymentSource.PAYMENT,
        "credited": event.amount - applied, "received_at": now,
        "created_by": intake.created_by})

    listeners.payment_applied(intake.conn, intake.queue, PaymentApplied(
        intake.tenant, payment, found.locator, found.account_locator))

    def settled(invoice: str) -> None:
        listeners.invoice_settled(intake.conn, intake.queue, intake.tenant, invoice)

    if applied > 0:
        paid = found.paid + applied
        intake.conn.execute(_PAY, {
            "invoice": found.locator, "paid": paid,
            "state": InvoiceState.SETTLED if paid >= found.total else InvoiceState.OPEN,
            "settled_time": now if paid >= found.total else None})
        if paid >= found.total:
            settled(found.locator)
    if applied < event.amount:  # beyond what the invoice owed: the account's credit
        credit.use(intake.conn, account, balance + event.amount - applied, now=now,
                   by=intake.created_by, settled=settled)
    return []
