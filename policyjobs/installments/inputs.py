"""An event's billing inputs, resolved against its tenant and checked, each problem by field.

Intake resolves them once, so a configuration change between intake and the job's
run cannot change what the job bills; the job reads them back from its payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from policyjobs.engine.calendar import known_timezone
from policyjobs.exceptions import FieldProblem, InvalidInput
from policyjobs.installments.config import InstallmentPlan, InstallmentsSection
from policyjobs.installments.lattice import (
    MAX_FRAMES,
    Charge,
    Portion,
    Span,
    build_lattice,
)
from policyjobs.intake import events
from policyjobs.money import currency_quantum, decimal_places, is_currency
from policyjobs.tenants.config import CoreConfig, Sections

MAX_ITEMS = 100_000  # installment items one job may create: frames times charges


@dataclass(frozen=True, slots=True)
class BillingInputs:
    """What a createOrUpdate job bills: where, in what money, under which plan, and what."""

    account_locator: str
    timezone: str
    currency: str
    plan_name: str
    plan: InstallmentPlan
    portions: tuple[tuple[str, Portion], ...]  # (element locator, portion), in time order

    @property
    def quantum(self) -> Decimal:
        """The currency's minor unit, such as 0.01 for USD and 1 for JPY."""
        return currency_quantum(self.currency)

    @property
    def span(self) -> Span:
        """From the first portion's start to the last one's end."""
        return Span(self.portions[0][1].span.start, self.portions[-1][1].span.end)

    def as_json(self) -> dict[str, Any]:
        """The inputs as a job payload holds them."""
        return {
            "accountLocator": self.account_locator, "timezone": self.timezone,
            "currency": self.currency, "planName": self.plan_name,
            "plan": self.plan.model_dump(mode="json", by_alias=True),
            "portions": [
                {"element": element, "startTime": p.span.start.isoformat(),
                 "endTime": p.span.end.isoformat(),
                 "charges": [{"locator": c.locator, "chargeType": c.charge_type,
                              "amount": str(c.amount)} for c in p.charges]}
                for element, p in self.portions
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BillingInputs:
        """The inputs from a job payload."""
        portions = tuple(
            (p["element"], Portion(
                Span(datetime.fromisoformat(p["startTime"]), datetime.fromisoformat(p["endTime"])),
                tuple(Charge(c["locator"], c["chargeType"], Decimal(c["amount"]))
                      for c in p["charges"])))
            for p in data["portions"]
        )
        return cls(data["accountLocator"], data["timezone"], data["currency"], data["planName"],
                   InstallmentPlan.model_validate(data["plan"]), portions)


def quote_inputs(event: events.QuoteEvent, config: Sections) -> BillingInputs:
    """A priced quote's billing inputs: its term, with the quote's charges."""
    problems: list[FieldProblem] = []
    if event.term is None:
        raise InvalidInput("a priced quote needs its term to build installments",
                           [FieldProblem("term", "required when the trigger is priced")])
    span = Span(event.term.startTime, event.term.endTime)
    charges = _charges(event.charges, "charges", problems)
    return _resolve(event, config, [(event.locator, Portion(span, charges))], problems)


def transaction_inputs(event: events.TransactionEvent, config: Sections) -> BillingInputs:
    """An issued transaction's billing inputs: its segments, end to end, with their charges."""
    problems: list[FieldProblem] = []
    if not event.segments:
        raise InvalidInput(f"an issued {event.transactionType} needs at least one segment",
                           [FieldProblem("segments", f"an issued {event.transactionType} "
                                                     "bills its segments; give at least one")])
    portions: list[tuple[str, Portion]] = []
    seen: set[str] = set()
    for index, segment in enumerate(event.segments):
        where = f"segments[{index}]"
        if index and segment.startTime != event.segments[index - 1].endTime:
            problems.append(FieldProblem(
                f"{where}.startTime", f"must equal segments[{index - 1}].endTime "
                f"({event.segments[index - 1].endTime.isoformat()}): segments run end to end"))
        charges = _charges(segment.charges, f"{where}.charges", problems, seen)
        portions.append((segment.locator,
                         Portion(Span(segment.startTime, segment.endTime), charges)))
    return _resolve(event, config, portions, problems)


def _charges(given: Sequence[events.Charge], where: str, problems: list[FieldProblem],
             seen: set[str] | None = None) -> tuple[Charge, ...]:
    seen = set() if seen is None else seen
    for index, charge in enumerate(given):
        if charge.locator in seen:
            problems.append(FieldProblem(f"{where}[{index}].locator",
                                         f"charge {charge.locator!r} is listed twice"))
        seen.add(charge.locator)
    return tuple(Charge(c.locator, c.chargeType, c.amount) for c in given)


def _resolve(event: events.QuoteEvent | events.TransactionEvent, config: Sections,
             portions: list[tuple[str, Portion]], problems: list[FieldProblem]) -> BillingInputs:
    """Resolve the timezone, currency and plan (the event's, or the tenant's), and check all."""
    core, section = config.section(CoreConfig), config.section(InstallmentsSection)
    timezone = event.timezone or core.timezone
    if not known_timezone(timezone):
        problems.append(FieldProblem("timezone", f"{timezone!r} is not a known IANA timezone"))
    currency = event.currency or core.currency
    if not is_currency(currency):
        problems.append(FieldProblem("currency", f"{currency!r} is not an ISO 4217 currency"))
    plan_name = event.installmentPlan or section.default_installment_plan
    plan = section.installment_plans.get(plan_name)
    if plan is None:
        known = ", ".join(sorted(section.installment_plans))
        problems.append(FieldProblem("installmentPlan",
                                     f"the tenant has no plan {plan_name!r} (it has: {known})"))
    if problems or plan is None:
        raise _invalid(problems)
    inputs = BillingInputs(event.accountLocator, timezone, currency, plan_name, plan,
                           tuple(portions))
    _check_amounts(inputs, event, problems)
    _check_lattice(inputs, event, problems)
    if problems:
        raise _invalid(problems)
    return inputs


def _check_amounts(inputs: BillingInputs, event: events.QuoteEvent | events.TransactionEvent,
                   problems: list[FieldProblem]) -> None:
    quantum, places = inputs.quantum, decimal_places(inputs.currency)
    for number, (_, portion) in enumerate(inputs.portions):
        where = "charges" if isinstance(event, events.QuoteEvent) else f"segments[{number}].charges"
        for index, charge in enumerate(portion.charges):
            if charge.amount != charge.amount.quantize(quantum):
                problems.append(FieldProblem(
                    f"{where}[{index}].amount",
                    f"{charge.amount} has more decimal places than {inputs.currency} has "
                    f"({places})"))


def _check_lattice(inputs: BillingInputs, event: events.QuoteEvent | events.TransactionEvent,
                   problems: list[FieldProblem]) -> None:
    """Build the lattice once now, so a term the calendar cannot cut is a 400, not a failed job."""
    field = "term" if isinstance(event, events.QuoteEvent) else "segments"
    spans = [portion.span for _, portion in inputs.portions]
    try:
        lattice = build_lattice(inputs.span, inputs.plan.as_plan(), inputs.timezone,
                                spans if len(spans) > 1 else ())
    except ValueError as error:
        problems.append(FieldProblem(field, str(error)))
        return
    charges = sum(len(portion.charges) for _, portion in inputs.portions)
    if len(lattice.frames) * charges > MAX_ITEMS:
        problems.append(FieldProblem(field, (
            f"{len(lattice.frames)} frames times {charges} charges would make more than "
            f"{MAX_ITEMS} installment items (at most {MAX_FRAMES} frames)")))


def _invalid(problems: list[FieldProblem]) -> InvalidInput:
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems)
    return InvalidInput(summary, problems)
