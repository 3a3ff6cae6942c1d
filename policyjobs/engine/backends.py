"""The backend of a store: the engine's SQL for its dialect."""

from __future__ import annotations

import sqlalchemy as sa

from policyjobs.engine.backend import Backend
from policyjobs.engine.postgres import PostgresBackend
from policyjobs.engine.sqlite import SQLiteBackend


def backend_for(db: sa.Engine) -> Backend:
    """The backend for `db`'s dialect."""
    return backend_named(db.dialect.name)


def backend_named(dialect: str) -> Backend:
    """The backend of the dialect called `dialect`."""
    if dialect == "postgresql":
        return PostgresBackend()
    if dialect == "sqlite":
        return SQLiteBackend()
    raise ValueError(f"unsupported database {dialect!r}: use PostgreSQL or SQLite")
