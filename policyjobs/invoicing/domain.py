"""The invoicing domain, wired: its job kinds, reactions to events, routes, configuration
section, permissions, and the generation schedule it keeps for each tenant."""

from __future__ import annotations

from datetime import timedelta

from policyjobs.domain import Domain, EventType
from policyjobs.engine import Duty, JobKind
from policyjobs.invoicing import handler, service
from policyjobs.invoicing.config import InvoicingSection
from policyjobs.invoicing.endpoints import billing_router, jobs_router
from policyjobs.invoicing.events import ImmediateInvoicingEvent, PaymentEvent
from policyjobs.invoicing.models import ACCOUNT, GENERATION, INSTANCE


def invoicing_domain() -> Domain:
    """The invoicing domain."""
    return Domain(
        name="invoicing",
        kinds=[JobKind(GENERATION, handler.run_generation, max_attempts=10),
               JobKind(INSTANCE, handler.run_instance, max_attempts=10),
               JobKind(ACCOUNT, handler.run_account, max_attempts=10)],
        duties=[Duty("invoicing.schedules", service.schedule_every_tenant,
                     timedelta(seconds=30))],
        events=[EventType("payment", PaymentEvent, service.on_payment),
                EventType("immediateInvoicing", ImmediateInvoicingEvent,
                          service.on_immediate_invoicing)],
        routers=[jobs_router, billing_router],
        config=InvoicingSection,
        permissions=["jobs.read", "jobs.list", "invoices.read", "invoices.list",
                     "invoices.write"],
        on_tenant_configured=service.on_tenant_configured,
        on_tenant_retired=service.on_tenant_retired,
    )
