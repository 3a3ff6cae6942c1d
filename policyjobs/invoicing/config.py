"""The invoicing section of a tenant's configuration: when the daily generation run starts."""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from policyjobs.tenants.config import ConfigModel, ConfigSection

_TIME_OF_DAY = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")


class InvoicingConfig(ConfigModel):
    """The tenant's daily invoice generation run."""

    generate_time_of_day: str = "02:00"

    @field_validator("generate_time_of_day", mode="before")
    @classmethod
    def _time_of_day(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            raise PydanticCustomError(
                "time_of_day",
                'YAML read this as the number {value}: quote it, as in "02:30"',
                {"value": value},
            )
        if isinstance(value, str) and not _TIME_OF_DAY.fullmatch(value):
            raise PydanticCustomError("time_of_day", 'should be "HH:MM" on a 24-hour clock')
        return value


class InvoicingSection(ConfigSection):
    """The `invoicing` key."""

    invoicing: InvoicingConfig = Field(default_factory=InvoicingConfig)
