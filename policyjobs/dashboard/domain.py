"""The dashboard, wired as a domain: its pages, and nothing it runs."""

from __future__ import annotations

from policyjobs.dashboard.endpoints import dashboard_router
from policyjobs.documents.storage import Storage
from policyjobs.domain import Domain


def dashboard_domain(storage: Storage) -> Domain:
    """The dashboard, serving rendered files from `storage`."""
    return Domain(name="dashboard", routers=[dashboard_router(storage)])
