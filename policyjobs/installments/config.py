"""The installments section of a tenant's configuration: its plans and the default one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import Field, model_validator

from policyjobs.installments.lattice import AnchorMode, Cadence, Plan
from policyjobs.tenants.config import ConfigModel, ConfigSection, Days, Weight, reject


class InstallmentPlan(ConfigModel):
    """How a term's charges are split into installments, and when those are invoiced and due."""

    cadence: Cadence
    max_installments_per_term: Annotated[int, Field(strict=True, ge=1)] | None = None
    installment_weights: tuple[Weight, ...] | None = None
    generate_lead_days: Days = 0
    due_lead_days: Days = 0
    anchor_mode: AnchorMode = AnchorMode.TERM_START_DAY

    @model_validator(mode="after")
    def _weights_fit(self) -> Self:
        weights, limit = self.installment_weights, self.max_installments_per_term
        if weights == ():
            message = "give at least one weight, or leave the key out"
        elif weights is not None and self.cadence is Cadence.FULL_PAY and len(weights) > 1:
            message = f"{len(weights)} weights, but a fullPay plan has one installment"
        elif weights is not None and limit is not None and len(weights) > limit:
            message = f"{len(weights)} weights, but maxInstallmentsPerTerm is {limit}"
        else:
            return self
        reject(self, [(("installmentWeights",), message)])
        return self

    def as_plan(self) -> Plan:
        """The plan as the lattice code takes it."""
        return Plan(self.cadence, self.max_installments_per_term, self.installment_weights,
                    self.generate_lead_days, self.due_lead_days, self.anchor_mode)


class InstallmentsSection(ConfigSection):
    """The `installmentPlans` and `defaultInstallmentPlan` keys."""

    default_installment_plan: str = "fullPay"
    installment_plans: Mapping[str, InstallmentPlan] = Field(
        default_factory=lambda: {"fullPay": InstallmentPlan(cadence=Cadence.FULL_PAY)}
    )

    @model_validator(mode="after")
    def _default_plan_exists(self) -> Self:
        name = self.default_installment_plan
        if name not in self.installment_plans:
            known = ", ".join(sorted(self.installment_plans)) or "none"
            message = f"installmentPlans has no plan {name!r} (it has: {known})"
            reject(self, [(("defaultInstallmentPlan",), message)])
        return self
