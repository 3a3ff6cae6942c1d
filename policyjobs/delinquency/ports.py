"""What delinquency needs of other domains: functions the composition root (`policyjobs.app`)
hands to `delinquency_domain`, so that delinquency imports no other domain. It reads where an
invoice stands (locked, as a payment locks it, or only whether it is settled, which once
true stays so) and renders notices as an invoice's documents; invoicing tells it of each
invoice made and settled through its listeners.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from policyjobs.domain import Tell, untold


class Standing(Protocol):
    """Where an invoice stands."""

    @property
    def locator(self) -> str: ...
    @property
    def account_locator(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def due_time(self) -> datetime: ...
    @property
    def settled(self) -> bool: ...


class MadeInvoice(Protocol):
    """A new invoice, as invoicing tells of it."""

    @property
    def tenant(self) -> str: ...
    @property
    def locator(self) -> str: ...
    @property
    def due_time(self) -> datetime: ...
    @property
    def created_by(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything delinquency is given."""

    # (conn, *, tenant, locator) → where the invoice stands, its row held until the
    # transaction ends, so that a payment and a grace end take turns
    lock_invoice: Callable[..., Standing]
    # (conn, *, tenant, locators) → the set of those invoices that are settled, read
    # without a lock: an invoice once settled stays so
    settled_among: Callable[..., set[str]]
    # (conn, *, tenant, locator) → the invoice with its items, as document templates see it
    invoice_context: Callable[..., Mapping[str, Any]]
    # (intake, invoice, definitions, **context) → the documents job of a notice
    render_notice: Callable[..., object]
    # tells integrators of delinquencies opened, settled and lapsed, and events fired
    tell: Tell = untold
