"""Permissions are `group.action`, after the spec's security groups; `admin` holds them all.

Each domain declares the permissions its routes demand; the running service knows the
union of them, and `admin`.
"""

from __future__ import annotations

from collections.abc import Collection

ADMIN = "admin"


def unknown(permissions: list[str], known: Collection[str]) -> list[str]:
    """The permissions in `permissions` that are neither `admin` nor in `known`."""
    return [p for p in permissions if p != ADMIN and p not in known]


def grants(held: frozenset[str], group: str, action: str) -> bool:
    """Whether `held` grants `action` in `group`."""
    return ADMIN in held or f"{group}.{action}" in held
