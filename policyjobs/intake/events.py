"""The platform's lifecycle events, with exactly the fields PRODUCT.md lists, and what every
event schema shares.

Several domains react to a quote or a transaction event (a priced quote makes documents
and installments), so those schemas live here, beside the endpoint. An event that one
domain owns (a payment) lives in that domain, built from the types here.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

LOCATOR = r"^[0-9A-Za-z_-]+$"  # a reference's locator, as events name one
LOCATOR_LENGTH = 64  # at most
Locator = Annotated[str, Field(min_length=1, max_length=LOCATOR_LENGTH, pattern=LOCATOR)]
# At most 15 significant digits: every such amount, and each share of it, reads back
# exactly from the JSON numbers the artifact endpoints answer with.
Money = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=15, decimal_places=6)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
EventId = Annotated[str, Field(min_length=1, max_length=128)]


class Trigger(enum.StrEnum):
    """A lifecycle moment: one that an event reports, or `generated`, which an invoice reaches."""

    VALIDATED = "validated"
    PRICED = "priced"
    UNDERWRITTEN = "underwritten"
    ACCEPTED = "accepted"
    ISSUED = "issued"
    GENERATED = "generated"


def _reported_by_events(trigger: Trigger) -> Trigger:
    if trigger is Trigger.GENERATED:
        raise ValueError("generated is reached by invoices, not reported by events")
    return trigger


# The triggers an intake event may carry: all but `generated`.
EventTrigger = Annotated[Trigger, AfterValidator(_reported_by_events), WithJsonSchema(
    {"type": "string", "enum": [str(t) for t in Trigger if t is not Trigger.GENERATED]})]


class TransactionType(enum.StrEnum):
    """What an issued transaction does to its policy."""

    ISSUANCE = "issuance"
    CHANGE = "change"
    RENEWAL = "renewal"
    CANCELLATION = "cancellation"
    REINSTATEMENT = "reinstatement"
    REVERSAL = "reversal"


class EventModel(BaseModel):
    """An intake event, or a part of one: immutable, and no field beyond those declared."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Span(EventModel):
    """A period: a term, or a segment's coverage."""

    startTime: AwareDatetime
    endTime: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.endTime <= self.startTime:
            raise ValueError("endTime must be after startTime")
        return self


class Charge(EventModel):
    """One priced charge; `amount` is a decimal string."""

    locator: Locator
    chargeType: Annotated[str, Field(min_length=1, max_length=64)]
    amount: Money


class Segment(Span):
    """A transaction's segment: its coverage period and charges."""

    locator: Locator
    charges: list[Charge] = Field(default_factory=list, max_length=1000)


class QuoteEvent(EventModel):
    """A quote reached a lifecycle moment (priced, accepted, …)."""

    type: Literal["quote"]
    eventId: EventId | None = None
    trigger: EventTrigger
    locator: Locator
    accountLocator: Locator
    productName: Annotated[str, Field(max_length=128)] | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    currency: Currency | None = None
    installmentPlan: Annotated[str, Field(max_length=64)] | None = None
    term: Span | None = None
    charges: list[Charge] = Field(default_factory=list, max_length=1000)
    data: dict[str, Any] = Field(default_factory=dict)


class TransactionEvent(EventModel):
    """A policy transaction reached a lifecycle moment, usually issued."""

    type: Literal["transaction"]
    eventId: EventId | None = None
    trigger: EventTrigger
    transactionType: TransactionType
    locator: Locator
    policyLocator: Locator
    termLocator: Locator | None = None
    accountLocator: Locator
    timezone: Annotated[str, Field(max_length=64)] | None = None
    currency: Currency | None = None
    installmentPlan: Annotated[str, Field(max_length=64)] | None = None
    effectiveTime: AwareDatetime | None = None
    reversedTransactionLocator: Locator | None = None
    segments: list[Segment] = Field(default_factory=list, max_length=1000)
    data: dict[str, Any] = Field(default_factory=dict)
