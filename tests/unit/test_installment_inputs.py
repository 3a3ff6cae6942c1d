"""Tests of resolving an event's billing inputs against its tenant's configuration."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from policyjobs.app import product_tenant_configs
from policyjobs.exceptions import InvalidInput
from policyjobs.installments.inputs import (
    BillingInputs,
    quote_inputs,
    transaction_inputs,
)
from policyjobs.intake.events import QuoteEvent, TransactionEvent
from policyjobs.money import currency_quantum

CONFIG = product_tenant_configs().load("""
timezone: Europe/Paris
currency: EUR
defaultInstallmentPlan: monthly
installmentPlans:
  monthly: {cadence: monthly, maxInstallmentsPerTerm: 12, generateLeadDays: 10}
  fullPay: {cadence: fullPay}
""")
TERM = {"startTime": "2027-01-01T00:00:00+01:00", "endTime": "2028-01-01T00:00:00+01:00"}


def quote(**keys: Any) -> QuoteEvent:
    """A priced quote event."""
    return QuoteEvent.model_validate({
        "type": "quote", "trigger": "priced", "locator": "Q-1", "accountLocator": "A-1",
        "term": TERM, "charges": [{"locator": "C-1", "chargeType": "premium",
                                   "amount": "120.50"}], **keys})


def issuance(segments: list[dict[str, Any]], **keys: Any) -> TransactionEvent:
    """An issued issuance event."""
    return TransactionEvent.model_validate({
        "type": "transaction", "trigger": "issued", "transactionType": "issuance",
        "locator": "T-1", "policyLocator": "P-1", "accountLocator": "A-1",
        "segments": segments, **keys})


def fields(error: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    """The fields an `InvalidInput` names."""
    return {problem.field for problem in error.value.errors}


def test_a_quote_takes_the_tenants_defaults() -> None:
    inputs = quote_inputs(quote(), CONFIG)
    assert (inputs.timezone, inputs.currency, inputs.plan_name) == (
        "Europe/Paris", "EUR", "monthly")
    assert inputs.plan.generate_lead_days == 10
    [(element, portion)] = inputs.portions
    assert element == "Q-1"
    assert portion.charges[0].amount == Decimal("120.50")


def test_the_events_own_choices_win() -> None:
    inputs = quote_inputs(quote(timezone="Asia/Tokyo", currency="JPY",
                                installmentPlan="fullPay",
                                charges=[{"locator": "C", "chargeType": "p", "amount": "900"}]),
                          CONFIG)
    assert (inputs.timezone, inputs.currency, inputs.plan_name) == (
        "Asia/Tokyo", "JPY", "fullPay")
    assert inputs.quantum == Decimal(1)


def test_inputs_survive_the_job_payload() -> None:
    inputs = transaction_inputs(issuance([
        {"locator": "S-1", "startTime": TERM["startTime"], "endTime": "2027-07-01T00:00:00+02:00",
         "charges": [{"locator": "C-1", "chargeType": "premium", "amount": "10.01"}]},
        {"locator": "S-2", "startTime": "2027-07-01T00:00:00+02:00", "endTime": TERM["endTime"]},
    ]), CONFIG)
    assert BillingInputs.from_json(inputs.as_json()) == inputs


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(InvalidInput) as error:
        quote_inputs(quote(timezone="Nowhere/Land", currency="ABC", installmentPlan="x"), CONFIG)
    assert fields(error) == {"timezone", "currency", "installmentPlan"}


def test_amounts_finer_than_the_currency_are_rejected() -> None:
    with pytest.raises(InvalidInput) as error:
        quote_inputs(quote(currency="BHD", charges=[
            {"locator": "C", "chargeType": "p", "amount": "1.0001"}]), CONFIG)
    assert fields(error) == {"charges[0].amount"}
    assert "3" in error.value.errors[0].message


def test_segments_must_run_end_to_end_and_charges_be_unique() -> None:
    with pytest.raises(InvalidInput) as error:
        transaction_inputs(issuance([
            {"locator": "S-1", "startTime": TERM["startTime"],
             "endTime": "2027-06-01T00:00:00+02:00",
             "charges": [{"locator": "C-1", "chargeType": "p", "amount": "1"}]},
            {"locator": "S-2", "startTime": "2027-07-01T00:00:00+02:00",
             "endTime": TERM["endTime"],
             "charges": [{"locator": "C-1", "chargeType": "p", "amount": "1"}]},
        ]), CONFIG)
    assert fields(error) == {"segments[1].startTime", "segments[1].charges[0].locator"}


def test_a_priced_quote_needs_a_term_and_an_issuance_a_segment() -> None:
    with pytest.raises(InvalidInput) as error:
        quote_inputs(quote(term=None), CONFIG)
    assert fields(error) == {"term"}
    with pytest.raises(InvalidInput) as error:
        transaction_inputs(issuance([]), CONFIG)
    assert fields(error) == {"segments"}


@pytest.mark.parametrize(("currency", "quantum"), [
    ("USD", "0.01"), ("JPY", "1"), ("BHD", "0.001"), ("EUR", "0.01")])
def test_currency_quanta_come_from_cldr(currency: str, quantum: str) -> None:
    assert currency_quantum(currency) == Decimal(quantum)
