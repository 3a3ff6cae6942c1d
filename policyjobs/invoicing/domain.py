"""The invoicing domain, wired: so far the section of the tenant configuration it reads."""

from __future__ import annotations

from policyjobs.domain import Domain
from policyjobs.invoicing.config import InvoicingSection


def invoicing_domain() -> Domain:
    """The invoicing domain."""
    return Domain(name="invoicing", config=InvoicingSection)
