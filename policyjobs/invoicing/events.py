"""The intake events invoicing owns: a payment, and a request to invoice an account now."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from policyjobs.intake.events import Currency, EventId, EventModel, Locator, Money


class PaymentEvent(EventModel):
    """A payment received against an invoice, in the invoice's currency."""

    type: Literal["payment"]
    eventId: EventId | None = None
    invoiceLocator: Locator
    amount: Money
    currency: Currency


class ImmediateInvoicingEvent(EventModel):
    """Invoice an account now: what has come due in each of the currencies."""

    type: Literal["immediateInvoicing"]
    eventId: EventId | None = None
    accountLocator: Locator
    currencies: list[Currency] = Field(min_length=1, max_length=20)
