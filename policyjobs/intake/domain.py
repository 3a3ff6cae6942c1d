"""Intake, wired as a domain: the events endpoint and the permission it demands.

The events themselves come from the other domains, each naming the event types it
reacts to; the runtime gathers them.
"""

from __future__ import annotations

from policyjobs.domain import Domain
from policyjobs.intake.endpoints import router


def intake_domain() -> Domain:
    """The intake domain."""
    return Domain(name="intake", routers=[router], permissions=["events.write"])
