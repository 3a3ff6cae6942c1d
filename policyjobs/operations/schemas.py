"""The operations API's bodies: records of the audit trail."""

from __future__ import annotations

from typing import Any, Self

from policyjobs.api.conventions import Schema, Timestamp


class AuditRecord(Schema):
    """One operator action: what, when, who (the token, or the command line), for which
    tenant, and its details (the jobs it touched, what changed)."""

    locator: str
    action: str
    at: Timestamp
    tokenLocator: str | None
    actor: str
    tenantLocator: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, row: Any) -> Self:
        """A record's row."""
        return cls(locator=row.locator, action=row.action, at=row.at,
                   tokenLocator=row.token_locator, actor=row.actor, tenantLocator=row.tenant,
                   details=dict(row.details))


class AuditRecordList(Schema):
    """A page of the audit trail, newest first."""

    listCompleted: bool
    items: list[AuditRecord]
