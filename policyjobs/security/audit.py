"""The audit trail: every operator action, with who made it (the token's id and its user,
or the command line on a host), what, when, for which tenant, and which jobs.

An action is recorded in the transaction that makes it, so a change that rolls back leaves
no record, and a record is never missing for a change that was made. The trail is
append-only: nothing here updates or deletes a record, and the store refuses to
(migration 0020).
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.engine import new_locator
from policyjobs.security.models import audit_records
from policyjobs.security.tokens import Principal

# Every action the trail records; the API's `action` filter takes exactly these.
ACTIONS = ("jobs.retry", "jobs.cancel", "pause", "resume", "documents.retrigger",
           "clock.move", "token.create", "token.revoke", "tenant.configure",
           "webhooks.change")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a token (its id and its user), or an operator at the command line."""

    token: str | None
    name: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The holder of a verified token."""
        return cls(principal.token_id, principal.user_id)

    @classmethod
    def command_line(cls) -> Actor:
        """The operator running `policyjobs` on this host, as the host names them."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for the process's user
            user = "unknown"
        return cls(None, f"command line: {user}@{socket.gethostname()}"[:100])


def record(conn: sa.Connection, actor: Actor, action: str, *, at: datetime,
           tenant: str | None = None, **details: Any) -> str:
    """Record `action` by `actor` in the transaction of `conn`; the record's locator.
    `details` say what was acted on (`jobLocators` for the jobs)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    locator = new_locator()
    conn.execute(audit_records.insert().values(
        locator=locator, action=action, at=at, token_locator=actor.token, actor=actor.name,
        tenant=tenant, details=details))
    return locator
