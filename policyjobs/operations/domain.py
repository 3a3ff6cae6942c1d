"""The operations domain, wired: the audit trail's routes and the permission that lets a
tenant's operators act on (and read the record of) their own tenant's jobs."""

from __future__ import annotations

from policyjobs.domain import Domain
from policyjobs.operations.endpoints import operations_router


def operations_domain() -> Domain:
    """The operations domain."""
    return Domain(name="operations", routers=[operations_router()],
                  permissions=["jobs.operate"])
