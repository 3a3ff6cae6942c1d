"""The delinquency domain, wired: its job kinds, reactions to events, routes, configuration
section and permissions, and what it does when a tenant retires."""

from __future__ import annotations

from functools import partial

from policyjobs.delinquency import handler, service
from policyjobs.delinquency.config import DelinquencySection
from policyjobs.delinquency.endpoints import billing_router, jobs_router
from policyjobs.delinquency.events import (
    DelinquencyEventCancelEvent,
    DelinquencyHoldEvent,
    DelinquencyRescheduleEvent,
)
from policyjobs.delinquency.models import CREATE, EVENT, GRACE
from policyjobs.delinquency.ports import Ports
from policyjobs.domain import Domain, EventType, Link
from policyjobs.engine import JobKind, Lane


def delinquency_domain(ports: Ports) -> Domain:
    """The delinquency domain, given what it needs of other domains (`ports`)."""
    return Domain(
        name="delinquency",
        # An operator's retry or cancel of a grace or an event job is the domain's.
        kinds=[JobKind(CREATE, partial(handler.run_create, ports=ports), lane=Lane.BATCH,
                       max_attempts=10, batch=partial(handler.run_creates, ports=ports)),
               JobKind(GRACE, partial(handler.run_grace, ports=ports), lane=Lane.BATCH,
                       max_attempts=10, retry=service.retry_grace, cancel=service.cancel_grace),
               JobKind(EVENT, partial(handler.run_event, ports=ports), lane=Lane.BATCH,
                       max_attempts=10, retry=service.retry_event, cancel=service.cancel_event)],
        events=[EventType("delinquencyHold", DelinquencyHoldEvent, service.on_hold),
                EventType("delinquencyReschedule", DelinquencyRescheduleEvent,
                          service.on_reschedule),
                EventType("delinquencyEventCancel", DelinquencyEventCancelEvent,
                          service.on_event_cancel)],
        routers=[jobs_router, billing_router],
        links=[Link("delinquency", "delinquency", "/billing/{tenant}/delinquencies/{locator}"),
               Link("delinquency", "events",
                    "/billing/{tenant}/delinquencies/{locator}/events/list"),
               Link("invoice", "delinquencies",
                    "/billing/{tenant}/delinquencies/invoices/{locator}/list")],
        config=DelinquencySection,
        permissions=["jobs.read", "jobs.list", "delinquencies.read", "delinquencies.list"],
        on_tenant_retired=service.on_tenant_retired,
    )
