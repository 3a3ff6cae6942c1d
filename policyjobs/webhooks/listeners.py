"""What the webhooks domain hears of other domains' changes, through the listeners the
composition root gives them, and the events it records for each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa

from policyjobs.engine import JobQueue
from policyjobs.webhooks.service import Event, publish, tell


class MadeInvoice(Protocol):
    """A new invoice, as invoicing tells of it."""

    @property
    def tenant(self) -> str: ...
    @property
    def locator(self) -> str: ...
    @property
    def account_locator(self) -> str: ...


class AppliedPayment(Protocol):
    """A payment recorded against an invoice, as invoicing tells of it."""

    @property
    def tenant(self) -> str: ...
    @property
    def locator(self) -> str: ...
    @property
    def invoice_locator(self) -> str: ...
    @property
    def account_locator(self) -> str: ...


def on_invoices_made(conn: sa.Connection, queue: JobQueue,
                     made: Sequence[MadeInvoice]) -> None:
    """`invoicing.invoice.generated`, for each invoice."""
    by_tenant: dict[str, list[Event]] = {}
    for invoice in made:
        by_tenant.setdefault(invoice.tenant, []).append(Event(
            "invoicing.invoice.generated",
            {"invoiceLocator": invoice.locator, "accountLocator": invoice.account_locator}))
    for tenant, events in by_tenant.items():
        publish(conn, queue, tenant=tenant, events=events, at=queue.clock.now())


def on_payment_applied(conn: sa.Connection, queue: JobQueue, paid: AppliedPayment) -> None:
    """`invoicing.payment.applied`."""
    tell(conn, queue, paid.tenant, "invoicing.payment.applied",
         {"invoiceLocator": paid.invoice_locator, "accountLocator": paid.account_locator,
          "paymentLocator": paid.locator})
