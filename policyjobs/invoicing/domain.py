"""The invoicing domain, wired: its job kinds, reactions to events, routes, configuration
section, permissions, and the generation schedule it keeps for each tenant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from policyjobs.domain import Domain, EventType, Intake, JobRef
from policyjobs.engine import Duty, JobContext, JobKind
from policyjobs.invoicing import handler, service
from policyjobs.invoicing.config import InvoicingSection
from policyjobs.invoicing.endpoints import billing_router, jobs_router
from policyjobs.invoicing.events import ImmediateInvoicingEvent, PaymentEvent
from policyjobs.invoicing.models import ACCOUNT, GENERATION, INSTANCE


def invoicing_domain(listeners: service.InvoiceListeners | None = None) -> Domain:
    """The invoicing domain; `listeners` hear of the invoices it makes and settles."""
    heard = listeners or service.InvoiceListeners()

    def run_instance(context: JobContext) -> Any:
        return handler.run_instance(context, heard)

    def run_account(context: JobContext) -> Any:
        return handler.run_account(context, heard)

    def on_payment(intake: Intake, event: PaymentEvent) -> list[JobRef]:
        return service.on_payment(intake, event, heard)

    return Domain(
        name="invoicing",
        kinds=[JobKind(GENERATION, handler.run_generation, max_attempts=10),
               JobKind(INSTANCE, run_instance, max_attempts=10),
               JobKind(ACCOUNT, run_account, max_attempts=10)],
        duties=[Duty("invoicing.schedules", service.schedule_every_tenant,
                     timedelta(seconds=30))],
        events=[EventType("payment", PaymentEvent, on_payment),
                EventType("immediateInvoicing", ImmediateInvoicingEvent,
                          service.on_immediate_invoicing)],
        routers=[jobs_router, billing_router],
        config=InvoicingSection,
        permissions=["jobs.read", "jobs.list", "invoices.read", "invoices.list",
                     "invoices.write"],
        on_tenant_configured=service.on_tenant_configured,
        on_tenant_retired=service.on_tenant_retired,
    )
