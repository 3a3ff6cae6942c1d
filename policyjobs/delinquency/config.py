"""The delinquency section of a tenant's configuration: grace period, lapse and events."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from policyjobs.documents.config import DocumentFormat
from policyjobs.tenants.config import (
    ConfigModel,
    ConfigSection,
    Days,
    Identifier,
    Text,
    reject_repeats,
)


class OffsetBasis(StrEnum):
    """The grace-period boundary a delinquency event is offset from."""

    GRACE_PERIOD_START = "gracePeriodStart"
    GRACE_PERIOD_END = "gracePeriodEnd"


class Notice(ConfigModel):
    """A document rendered for the invoice when a delinquency event fires."""

    static_name: Identifier
    name: Text
    format: DocumentFormat = DocumentFormat.PDF
    template: Text


class DelinquencyEvent(ConfigModel):
    """A delinquency event fired some days before or after a grace-period boundary, with the
    notice it renders, if any."""

    name: Text
    offset_basis: OffsetBasis
    offset_days: Annotated[int, Field(strict=True)]
    notice: Notice | None = None


class DelinquencyConfig(ConfigModel):
    """The grace period, lapse and events of the tenant's delinquencies."""

    grace_period_days: Days = 30
    lapse_transaction_type: Text = "lapse"
    events: tuple[DelinquencyEvent, ...] = ()

    @model_validator(mode="after")
    def _unique_event_names(self) -> Self:
        reject_repeats(self, [event.name for event in self.events], "events", "name")
        return self


class DelinquencySection(ConfigSection):
    """The `delinquency` key."""

    delinquency: DelinquencyConfig = Field(default_factory=DelinquencyConfig)
