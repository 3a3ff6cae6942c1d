"""What invoicing needs of other domains, and what it tells them: functions the composition
root (`policyjobs.app`) hands to `invoicing_domain`, so that invoicing imports no other
domain. Installments says what may be billed and records what was; listeners hear, in the
transaction that makes or settles an invoice, of each one (its documents, its
delinquency).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa

from policyjobs.engine import JobQueue


class BillableItem(Protocol):
    """One charge's share of an installment that an invoice may bill."""

    @property
    def locator(self) -> str: ...
    @property
    def charge_locator(self) -> str: ...
    @property
    def charge_type(self) -> str: ...
    @property
    def element_locator(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...


class Billable(Protocol):
    """An installment an invoice may bill, with its items: negative for a reversal's
    credit."""

    @property
    def locator(self) -> str: ...
    @property
    def account_locator(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def installment_start(self) -> datetime: ...
    @property
    def installment_end(self) -> datetime: ...
    @property
    def due_time(self) -> datetime: ...
    @property
    def quote_locator(self) -> str | None: ...
    @property
    def policy_locator(self) -> str | None: ...
    @property
    def transaction_locator(self) -> str | None: ...
    @property
    def items(self) -> Sequence[BillableItem]: ...
    @property
    def total(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class Installments:
    """What invoicing reads and records of installments (`installments.service` has them)."""

    # (conn, *, tenant, account=, currency=, through=, locators=, lock=) → the installments
    # an invoice may bill, oldest first, locked
    billable: Callable[..., Sequence[Billable]]
    # (conn, *, tenant, through) → the (account, currency) pairs with something to bill
    billable_groups: Callable[..., list[tuple[str, str]]]
    # (conn, *, tenant, locators) → each named installment's account
    accounts_of: Callable[..., dict[str, str]]
    # (conn, *, tenant, invoices, now, by, invoice_items) → each installment an invoice could
    # take, with the invoice (`invoices`: invoice → its installments)
    mark_invoiced: Callable[..., dict[str, str]]


@dataclass(frozen=True, slots=True)
class InvoiceMade:
    """A new invoice, as other domains learn of it; `context` is the invoice with its items
    as document templates see it."""

    tenant: str
    locator: str
    account_locator: str
    currency: str
    timezone: str
    due_time: datetime
    total: Decimal
    created_by: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PaymentApplied:
    """A payment the platform reported, recorded against an invoice."""

    tenant: str
    locator: str
    invoice_locator: str
    account_locator: str


Made = Callable[[sa.Connection, JobQueue, Sequence[InvoiceMade]], None]  # of one transaction
Settled = Callable[[sa.Connection, JobQueue, str, Sequence[str]], None]  # tenant, invoices
Paid = Callable[[sa.Connection, JobQueue, PaymentApplied], None]


@dataclass(frozen=True, slots=True)
class InvoiceListeners:
    """Who hears, in the transaction, of the invoices made, each payment applied and each
    invoice settled."""

    made: Sequence[Made] = ()
    settled: Sequence[Settled] = ()
    paid: Sequence[Paid] = ()

    def payment_applied(self, conn: sa.Connection, queue: JobQueue,
                        paid: PaymentApplied) -> None:
        """Tell every listener of a payment recorded."""
        for listener in self.paid:
            listener(conn, queue, paid)

    def invoices_made(self, conn: sa.Connection, queue: JobQueue,
                      made: Sequence[InvoiceMade]) -> None:
        """Tell every listener of new invoices, all at once (one statement of each kind
        may serve them all)."""
        for listener in self.made:
            listener(conn, queue, made)

    def invoices_settled(self, conn: sa.Connection, queue: JobQueue, tenant: str,
                         invoices: Sequence[str]) -> None:
        """Tell every listener of settled invoices of a tenant, all at once."""
        if invoices:
            for listener in self.settled:
                listener(conn, queue, tenant, invoices)

    def invoice_settled(self, conn: sa.Connection, queue: JobQueue, tenant: str,
                        invoice: str) -> None:
        """Tell every listener of a settled invoice."""
        self.invoices_settled(conn, queue, tenant, [invoice])


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything invoicing is given."""

    installments: Installments
    listeners: InvoiceListeners = InvoiceListeners()
