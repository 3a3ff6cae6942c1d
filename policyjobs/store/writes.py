"""Writes that the two stores spell differently."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_all(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows`, up to a thousand to a statement.

    On PostgreSQL an executemany runs one INSERT per row. SQLAlchemy packs the rows into
    multi-row INSERTs ("insertmanyvalues") only for an INSERT that returns something, so
    this one returns the table's key, and drops it.
    """
    if rows:
        conn.execute(_returning_key(table), rows).close()


@cache
def _returning_key(table: sa.Table) -> sa.Executable:
    return table.insert().returning(*table.primary_key.columns)


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
