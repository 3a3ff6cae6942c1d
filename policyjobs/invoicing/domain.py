"""The invoicing domain, wired: its job kinds, reactions to events, routes, configuration
section, permissions, and the generation schedule it keeps for each tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import partial

from policyjobs.domain import Domain, EventType, Intake, JobRef, Link
from policyjobs.engine import Duty, JobKind, Lane
from policyjobs.invoicing import handler, payments, service
from policyjobs.invoicing.config import InvoicingSection
from policyjobs.invoicing.endpoints import billing_router, early_invoicing_router, jobs_router
from policyjobs.invoicing.events import ImmediateInvoicingEvent, PaymentEvent
from policyjobs.invoicing.models import ACCOUNT, GENERATION, INSTANCE
from policyjobs.invoicing.ports import Ports


def invoicing_domain(ports: Ports) -> Domain:
    """The invoicing domain, given what it needs of other domains and who hears of the
    invoices it makes and settles (`ports`)."""

    def on_payment(intake: Intake, event: PaymentEvent) -> list[JobRef]:
        return payments.on_payment(intake, event, ports.listeners)

    def on_payments(intake: Intake,
                    events: Sequence[PaymentEvent]) -> Sequence[list[JobRef]] | None:
        return payments.on_payments(intake, events, ports.listeners)

    return Domain(
        name="invoicing",
        kinds=[JobKind(GENERATION, partial(handler.run_generation, ports=ports),
                       max_attempts=10),
               JobKind(INSTANCE, partial(handler.run_instance, ports=ports), lane=Lane.BATCH,
                       max_attempts=10, batch=partial(handler.run_instances, ports=ports)),
               JobKind(ACCOUNT, partial(handler.run_account, ports=ports),
                       lane=Lane.INTERACTIVE, max_attempts=10)],
        duties=[Duty("invoicing.schedules", service.schedule_every_tenant,
                     timedelta(seconds=30))],
        events=[EventType("payment", PaymentEvent, on_payment, accept_all=on_payments),
                EventType("immediateInvoicing", ImmediateInvoicingEvent,
                          service.on_immediate_invoicing)],
        routers=[jobs_router, billing_router, early_invoicing_router(ports.installments)],
        links=[Link("invoice", "invoice", "/billing/{tenant}/invoices/{locator}"),
               Link("account", "invoices", "/billing/{tenant}/invoices/accounts/{locator}/list"),
               Link("account", "credit", "/billing/{tenant}/accounts/{locator}/credit")],
        config=InvoicingSection,
        permissions=["jobs.read", "jobs.list", "invoices.read", "invoices.list",
                     "invoices.write"],
        on_tenant_configured=service.on_tenant_configured,
        on_tenant_retired=service.on_tenant_retired,
    )
