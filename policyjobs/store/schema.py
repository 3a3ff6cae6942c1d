"""What every table is built from: the one `MetaData` the engine's tables share, and column types.

A domain declares its tables in its own `models.py` on this `metadata`, so foreign keys
can reach the jobs table and one comparison checks every table against the migrations.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from policyjobs.engine.schema import JSONDoc, UTCDateTime, metadata

__all__ = ["DecimalText", "JSONDoc", "UTCDateTime", "metadata"]


class DecimalText(sa.TypeDecorator[Decimal]):
    """An exact decimal kept as its text, so SQLite never rounds it through a float."""

    impl = sa.String(48)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        """Store the decimal's exact digits."""
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"{value!r} is not a finite Decimal")
        return str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        """Read the digits back as a `Decimal`."""
        return None if value is None else Decimal(value)
