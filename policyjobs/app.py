"""The composition root: the product's domains, and the runtime and ASGI app built from them.

This is the one module that imports every domain. Nothing in the package imports it but
the entry points that start the product (`cli` and `demo`); adding a domain is adding
its folder and one line to `product_domains`.

Domains talk one way: a domain that needs another, or tells others of what it did, names
what it needs in its `ports` module (functions to call, listeners to tell), and this module
hands it the other domains' functions. No domain imports another's code, but for the
vocabulary they share (intake's event models, the documents configuration's types).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fastapi import FastAPI

from policyjobs.api.application import create_app
from policyjobs.dashboard import ports as dashboard_ports
from policyjobs.dashboard.domain import dashboard_domain
from policyjobs.delinquency import ports as delinquency_ports
from policyjobs.delinquency import service as delinquency
from policyjobs.delinquency.domain import delinquency_domain
from policyjobs.documents import queries as documents_queries
from policyjobs.documents import service as documents
from policyjobs.documents.domain import documents_domain
from policyjobs.documents.models import KIND as documents_kind
from policyjobs.documents.storage import storage_for
from policyjobs.domain import Domain, load_plugin
from policyjobs.installments import service as installments
from policyjobs.installments.domain import installments_domain
from policyjobs.installments.models import KIND as installments_kind
from policyjobs.intake.domain import intake_domain
from policyjobs.invoicing import invoices
from policyjobs.invoicing import models as invoicing_models
from policyjobs.invoicing import ports as invoicing_ports
from policyjobs.invoicing import queries as invoicing_queries
from policyjobs.invoicing.domain import invoicing_domain
from policyjobs.logs import configure_logging
from policyjobs.operations import queries as operations_queries
from policyjobs.operations import service as operations
from policyjobs.operations.domain import operations_domain
from policyjobs.runtime import Runtime, tenant_configs
from policyjobs.settings import Settings
from policyjobs.tenants.config import TenantConfigSchema
from policyjobs.webhooks import listeners as webhooks_listeners
from policyjobs.webhooks import queries as webhooks_queries
from policyjobs.webhooks import service as webhooks
from policyjobs.webhooks.addresses import Rules
from policyjobs.webhooks.domain import webhooks_domain
from policyjobs.webhooks.sealing import Sealer


def product_domains(settings: Settings) -> list[Domain]:
    """The domains the product ships, then those `POLICYJOBS_PLUGINS` names."""
    # rendered files, which the dashboard serves too
    storage = storage_for(settings.documents_url, settings.home)
    return [
        intake_domain(),
        documents_domain(storage, tell=webhooks.tell,
                         presigned=settings.documents_serve == "presigned"),
        installments_domain(),
        invoicing_domain(invoicing_ports.Ports(
            installments=invoicing_ports.Installments(
                billable=installments.billable, billable_groups=installments.billable_groups,
                accounts_of=installments.accounts_of, mark_invoiced=installments.mark_invoiced),
            listeners=invoicing_ports.InvoiceListeners(
                made=(documents.on_invoices_made, delinquency.on_invoices_made,
                      webhooks_listeners.on_invoices_made),
                settled=(partial(delinquency.on_invoices_settled, tell=webhooks.tell),),
                paid=(webhooks_listeners.on_payment_applied,)))),
        delinquency_domain(delinquency_ports.Ports(
            lock_invoice=invoices.lock_invoice, settled_among=invoices.settled_among,
            invoice_context=invoices.invoice_context,
            render_notice=documents.render_for_invoice, tell=webhooks.tell)),
        dashboard_domain(dashboard_ports.Ports(
            documents=dashboard_ports.Documents(
                kind=documents_kind, timed_out_jobs=documents_queries.timed_out_jobs,
                of_job=documents_queries.documents_of,
                retriggerable=documents_queries.retriggerable,
                document=documents_queries.read_document,
                file=partial(documents.document_file, storage),
                retrigger=documents.retrigger_job),
            accounts_with_credit=invoicing_queries.accounts_with_credit,
            webhooks=dashboard_ports.Webhooks(endpoints=webhooks_queries.endpoints,
                                              attempts=webhooks_queries.attempts),
            audit=operations_queries.audit_page,
            operations=dashboard_ports.Operations(
                matched=operations.matched, act_on_jobs=operations.act_on_jobs,
                act_now=operations.act_now, pause=operations.pause, resume=operations.resume,
                bulk_action=operations_queries.bulk_action))),
        operations_domain(),
        webhooks_domain(
            webhook_keys(settings), threads=settings.webhooks_threads,
            job_areas={documents_kind: "documents", installments_kind: "installments",
                       invoicing_models.GENERATION: "invoicing",
                       invoicing_models.ACCOUNT: "invoicing"}),
        *(load_plugin(path) for path in settings.plugin_modules),
    ]


def webhook_keys(settings: Settings) -> webhooks.Keys:
    """What endpoints' secrets are sealed under and their URLs held to, as `settings` say:
    the same for the service and the command line."""
    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
    return webhooks.Keys(Sealer.of(secret_key, settings.home),
                         Rules(settings.webhooks_allow_http, settings.webhooks_allow_private))


def build_runtime(settings: Settings, *, extra_domains: Sequence[Domain] = (),
                  apply_migrations: bool = True) -> Runtime:
    """The product's runtime over the store `settings` names (migrated first, by default)."""
    return Runtime.build(settings, [*product_domains(settings), *extra_domains],
                         apply_migrations=apply_migrations)


def product_tenant_configs(settings: Settings | None = None) -> TenantConfigSchema:
    """The product's tenant configuration: the core keys and every domain's section."""
    return tenant_configs(product_domains(settings or Settings()))


def app_for_process(settings: Settings, run_workers: bool) -> FastAPI:
    """The app of one `serve --processes N` child, made in it from the parent's `settings`
    (the store already migrated by the parent)."""
    configure_logging(settings.log_level, settings.log_format)
    runtime = build_runtime(settings, apply_migrations=False)
    return create_app(runtime, run_workers=run_workers, owns_runtime=True,
                      owns_process=True)
