"""Currencies, as every domain that counts money reads them: ISO 4217 codes and their minor
units, from CLDR through Babel."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision
from babel.numbers import is_currency as _is_currency


def is_currency(code: str) -> bool:
    """Whether `code` is an ISO 4217 currency, such as USD."""
    return bool(_is_currency(code))


def decimal_places(currency: str) -> int:
    """How many decimal places an ISO 4217 currency's minor unit has: 2 for USD, 0 for JPY."""
    return int(get_currency_precision(currency))


def currency_quantum(currency: str) -> Decimal:
    """The minor unit of an ISO 4217 currency, from CLDR: 0.01 for USD, 1 for JPY."""
    return Decimal(1).scaleb(-decimal_places(currency))
