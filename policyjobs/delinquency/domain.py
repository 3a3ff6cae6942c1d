"""The delinquency domain, wired: so far the section of the tenant configuration it reads."""

from __future__ import annotations

from policyjobs.delinquency.config import DelinquencySection
from policyjobs.domain import Domain


def delinquency_domain() -> Domain:
    """The delinquency domain."""
    return Domain(name="delinquency", config=DelinquencySection)
