"""Opening the store: SQLite in WAL mode with real transactions, or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event

from policyjobs.engine.schema import READ_ONLY


def open_store(url: str, *, pool_size: int = 10) -> sa.Engine:
    """An engine for `url`; SQLite files and their folder are created on first use."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _open_sqlite(parsed)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"unsupported database URL {parsed.render_as_string()}: "
                         "use postgresql+psycopg://… or sqlite:///…")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(
        parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
        pool_recycle=3600, json_serializer=_json_text, json_deserializer=orjson.loads,
    )


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _open_sqlite(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    db = sa.create_engine(url, connect_args={"timeout": 30}, pool_size=20, max_overflow=20,
                          json_serializer=_json_text, json_deserializer=orjson.loads)

    @event.listens_for(db, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver, so SQLAlchemy's begin (below) owns the transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(db, "begin")
    def begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front, so they wait on busy_timeout instead of
        # failing on a lock upgrade; readers stay concurrent with them under WAL.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return db


def reader(db: sa.Engine) -> sa.Engine:
    """`db` for read-only work: on SQLite its transactions do not take the write lock."""
    return db.execution_options(**{READ_ONLY: True})
