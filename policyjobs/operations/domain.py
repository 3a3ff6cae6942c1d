"""The operations domain, wired: the job that runs a bulk retry or cancel, the routes of
operators' actions and of the audit trail, and the permission that lets a tenant's
operators act on (and read the record of) their own tenant's jobs."""

from __future__ import annotations

from policyjobs.domain import Domain
from policyjobs.engine import JobKind, Lane
from policyjobs.operations import bulk
from policyjobs.operations.endpoints import operations_router
from policyjobs.operations.models import BULK


def operations_domain() -> Domain:
    """The operations domain."""
    return Domain(name="operations",
                  # An operator waits on it, though not as on a quote's documents.
                  kinds=[JobKind(BULK, bulk.run, lane=Lane.STANDARD, max_attempts=10)],
                  routers=[operations_router()], permissions=["jobs.operate"])
