"""Writes that the two stores spell differently."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_missing(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows`, skipping each whose key `table` already holds, in one statement."""
    if rows:
        conn.execute(_insert_missing(conn.dialect.name, table), rows)


@cache
def _insert_missing(dialect: str, table: sa.Table) -> sa.Executable:
    """The statement, built once for each store and table."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
