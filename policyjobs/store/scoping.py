"""The one place reads are scoped to a tenant: any table's rows of a tenant, by locator, a
page at a time."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa

from policyjobs.exceptions import NotFound

T = TypeVar("T")

# The tenant of a statement built once (at import) and bound per call, for hot paths: a
# statement built per call costs some ten times more of Python than executing one built.
TENANT: sa.BindParameter[str] = sa.bindparam("tenant")


def in_tenant(table: sa.Table, tenant: str | sa.BindParameter[Any],
              *columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """A `SELECT` of `table`'s rows (or of `columns`) that belong to `tenant`: a name, or
    `TENANT` to bind at execution."""
    return sa.select(*(columns or (table,))).where(table.c.tenant == tenant)


def by_locator(table: sa.Table) -> sa.Select[Any]:
    """`table`'s row of a locator in a tenant: a statement to build once, bound with `tenant`
    and `locator`."""
    return in_tenant(table, TENANT).where(table.c.locator == sa.bindparam("locator"))


def paged(statement: sa.Select[Any]) -> sa.Select[Any]:
    """`statement`'s page, from `offset` and `limit` bound per call."""
    return statement.offset(sa.bindparam("offset")).limit(sa.bindparam("limit"))


def found(row: T | None, missing: str) -> T:
    """`row`, or `NotFound` saying what is `missing`."""
    if row is None:
        raise NotFound(missing)
    return row
