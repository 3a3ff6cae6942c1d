"""The backend of a store: the engine's SQL for its dialect."""

from __future__ import annotations

import sqlalchemy as sa

from policyjobs.engine.backend import Backend
from policyjobs.engine.postgres import PostgresBackend
from policyjobs.engine.sqlite import SQLiteBackend


def backend_for(db: sa.Engine) -> Backend:
    """The backend for `db`'s dialect."""
    if db.dialect.name == "postgresql":
        return PostgresBackend()
    if db.dialect.name == "sqlite":
        return SQLiteBackend()
    raise ValueError(f"unsupported database {db.dialect.name!r}: use PostgreSQL or SQLite")
