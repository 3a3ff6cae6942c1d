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


def json_rows(param: str, *columns: str) -> dict[str, sa.FromClause]:
    """A table of the objects of a JSON array bound as `param` (text), each with the
    string `columns`, spelled for each store: so that one statement, built once, joins as
    many rows as a call has (an UPDATE that sets each row its own value, say)."""
    bound = sa.bindparam(param, type_=sa.Text)
    each = sa.func.json_each(bound).table_valued("value")
    return {
        "postgresql": sa.func.json_to_recordset(sa.cast(bound, postgresql.JSON)).table_valued(
            *(sa.column(name, sa.Text) for name in columns)).render_derived(
            name=param, with_types=True),
        "sqlite": sa.select(*(sa.func.json_extract(each.c.value, f"$.{name}").label(name)
                              for name in columns)).subquery(param),
    }


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
