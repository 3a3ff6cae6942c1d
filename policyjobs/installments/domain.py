"""The installments domain, wired: its job kind, reactions to events, routes, configuration
section and permissions."""

from __future__ import annotations

from policyjobs.domain import Domain, EventType, Link
from policyjobs.engine import JobKind, Lane
from policyjobs.installments import service
from policyjobs.installments.config import InstallmentsSection
from policyjobs.installments.endpoints import billing_router, jobs_router
from policyjobs.installments.handler import run_installments_job, run_installments_jobs
from policyjobs.installments.models import KIND
from policyjobs.intake.events import QuoteEvent, TransactionEvent


def installments_domain() -> Domain:
    """The installments domain."""
    return Domain(
        name="installments",
        kinds=[JobKind(KIND, run_installments_job, lane=Lane.INTERACTIVE, max_attempts=5,
                       retry=service.retry_jobs, batch=run_installments_jobs)],
        events=[EventType("quote", QuoteEvent, service.on_quote, service.lock_chains,
                          accept_all=service.on_quotes),
                EventType("transaction", TransactionEvent, service.on_transaction,
                          service.lock_chains, accept_all=service.on_transactions)],
        routers=[jobs_router, billing_router],
        links=[Link(scope, "installments",
                    f"/billing/{{tenant}}/installments/{scope}s/{{locator}}/list")
               for scope in ("quote", "transaction")],
        config=InstallmentsSection,
        permissions=["jobs.read", "jobs.list", "installments.read", "installments.list",
                     "installment-lattices.read"],
    )
