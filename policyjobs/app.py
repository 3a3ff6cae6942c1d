"""The composition root: the product's domains, and the runtime and ASGI app built from them.

This is the one module that imports every domain. Nothing in the package imports it but
the entry points that start the product (`cli` and `demo`); adding a domain is adding
its folder and one line to `product_domains`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from fastapi import FastAPI

from policyjobs.api.application import create_app
from policyjobs.dashboard.domain import dashboard_domain
from policyjobs.delinquency import service as delinquency
from policyjobs.delinquency.domain import delinquency_domain
from policyjobs.documents.domain import documents_domain
from policyjobs.documents.storage import storage_for
from policyjobs.domain import Domain, load_plugin
from policyjobs.installments.domain import installments_domain
from policyjobs.intake.domain import intake_domain
from policyjobs.invoicing.domain import invoicing_domain
from policyjobs.invoicing.service import InvoiceListeners
from policyjobs.logs import configure_logging
from policyjobs.runtime import Runtime, tenant_configs
from policyjobs.settings import Settings
from policyjobs.tenants.config import TenantConfigSchema

RUN_WORKERS_VARIABLE = "POLICYJOBS_SERVE_RUN_WORKERS"  # set by `serve --processes` for its children


def product_domains(settings: Settings) -> list[Domain]:
    """The domains the product ships, then those `POLICYJOBS_PLUGINS` names."""
    storage = storage_for(settings.home)  # rendered files, which the dashboard serves too
    return [
        intake_domain(),
        documents_domain(storage),
        installments_domain(),
        invoicing_domain(InvoiceListeners(made=delinquency.on_invoice_made,
                                          settled=delinquency.on_invoice_settled)),
        delinquency_domain(),
        dashboard_domain(storage),
        *(load_plugin(path) for path in settings.plugin_modules),
    ]


def build_runtime(settings: Settings, *, extra_domains: Sequence[Domain] = (),
                  apply_migrations: bool = True) -> Runtime:
    """The product's runtime over the store `settings` names (migrated first, by default)."""
    return Runtime.build(settings, [*product_domains(settings), *extra_domains],
                         apply_migrations=apply_migrations)


def product_tenant_configs(settings: Settings | None = None) -> TenantConfigSchema:
    """The product's tenant configuration: the core keys and every domain's section."""
    return tenant_configs(product_domains(settings or Settings()))


def app_from_environment() -> FastAPI:
    """The app of one `serve --processes N` child: settings from the environment, the store
    already migrated by the parent."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    runtime = build_runtime(settings, apply_migrations=False)
    return create_app(runtime, run_workers=os.environ.get(RUN_WORKERS_VARIABLE) == "1",
                      owns_runtime=True)
