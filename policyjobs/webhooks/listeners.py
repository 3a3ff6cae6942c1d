"""What the webhooks domain hears of other domains' changes, through the listeners the
composition root gives them, and the events it records for each."""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa

from policyjobs.engine import JobQueue
from policyjobs.webhooks.service import tell


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


def on_invoice_made(conn: sa.Connection, queue: JobQueue, made: MadeInvoice) -> None:
    """`invoicing.invoice.generated`."""
    tell(conn, queue, made.tenant, "invoicing.invoice.generated",
         {"invoiceLocator": made.locator, "accountLocator": made.account_locator})


def on_payment_applied(conn: sa.Connection, queue: JobQueue, paid: AppliedPayment) -> None:
    """`invoicing.payment.applied`."""
    tell(conn, queue, paid.tenant, "invoicing.payment.applied",
         {"invoiceLocator": paid.invoice_locator, "accountLocator": paid.account_locator,
          "paymentLocator": paid.locator})
