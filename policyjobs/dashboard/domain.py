"""The dashboard, wired as a domain: its pages, and nothing it runs."""

from __future__ import annotations

from policyjobs.dashboard.endpoints import dashboard_router
from policyjobs.dashboard.ports import Ports
from policyjobs.domain import Domain


def dashboard_domain(ports: Ports) -> Domain:
    """The dashboard, showing what `ports` read of the other domains."""
    return Domain(name="dashboard", routers=[dashboard_router(ports)])
