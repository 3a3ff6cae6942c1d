"""Permissions are `group.action`, after the spec's security groups; `admin` holds them all."""

from __future__ import annotations

ADMIN = "admin"

KNOWN = frozenset({
    ADMIN,
    "documents.read", "documents.trigger",
    "jobs.read", "jobs.list", "jobs.write",
    "events.write",
    "installments.read", "installments.list",
    "installment-lattices.read",
    "invoices.read", "invoices.list", "invoices.write",
    "delinquencies.read", "delinquencies.list",
})


def unknown(permissions: list[str]) -> list[str]:
    """The permissions in `permissions` that the service does not know."""
    return [p for p in permissions if p not in KNOWN]


def grants(held: frozenset[str], group: str, action: str) -> bool:
    """Whether `held` grants `action` in `group`."""
    return ADMIN in held or f"{group}.{action}" in held
