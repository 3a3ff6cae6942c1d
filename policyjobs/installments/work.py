"""What an installments job works with and leaves: its transaction, its row and payload,
and the lattice and installments it made or touched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from policyjobs.installments.models import installment_items, installments
from policyjobs.store.writes import insert_all


@dataclass(frozen=True, slots=True)
class Done:
    """What a job left: the lattice it built or acted on, and the installments it touched."""

    lattice_locator: str | None
    installment_locators: Sequence[str]

    def as_json(self) -> dict[str, Any]:
        """The job's result."""
        return {"latticeLocator": self.lattice_locator,
                "installmentLocators": list(self.installment_locators)}


@dataclass(frozen=True, slots=True)
class Work:
    """One job's transaction: its connection, its row and payload, and the business time."""

    conn: sa.Connection
    row: Any
    payload: dict[str, Any]
    now: datetime

    @property
    def by(self) -> str:
        """Who the job acts for: the caller whose event made it."""
        return str(self.payload["createdBy"])


Made = Sequence[tuple[dict[str, Any], list[dict[str, Any]]]]  # installment rows and their items


def insert_installments(conn: sa.Connection, made: Made) -> None:
    """Insert installments and their items."""
    if made:
        insert_all(conn, installments, [row for row, _ in made])
        insert_all(conn, installment_items, [item for _, items in made for item in items])
