"""The delinquency domain, wired: its job kinds, reactions to events, routes, configuration
section and permissions, and what it does when a tenant retires."""

from __future__ import annotations

from policyjobs.delinquency import handler, service
from policyjobs.delinquency.config import DelinquencySection
from policyjobs.delinquency.endpoints import billing_router, jobs_router
from policyjobs.delinquency.events import (
    DelinquencyEventCancelEvent,
    DelinquencyHoldEvent,
    DelinquencyRescheduleEvent,
)
from policyjobs.delinquency.models import CREATE, EVENT, GRACE
from policyjobs.domain import Domain, EventType
from policyjobs.engine import JobKind


def delinquency_domain() -> Domain:
    """The delinquency domain."""
    return Domain(
        name="delinquency",
        kinds=[JobKind(CREATE, handler.run_create, max_attempts=10),
               JobKind(GRACE, handler.run_grace, max_attempts=10),
               JobKind(EVENT, handler.run_event, max_attempts=10)],
        events=[EventType("delinquencyHold", DelinquencyHoldEvent, service.on_hold),
                EventType("delinquencyReschedule", DelinquencyRescheduleEvent,
                          service.on_reschedule),
                EventType("delinquencyEventCancel", DelinquencyEventCancelEvent,
                          service.on_event_cancel)],
        routers=[jobs_router, billing_router],
        config=DelinquencySection,
        permissions=["jobs.read", "jobs.list", "delinquencies.read", "delinquencies.list"],
        on_tenant_retired=service.on_tenant_retired,
    )
