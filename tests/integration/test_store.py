"""The store's connection handling on PostgreSQL."""

from __future__ import annotations

import pytest

from policyjobs.store import database
from policyjobs.store.database import open_store, reader


def test_a_connection_lost_while_idle_is_replaced_before_use(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db, admin = open_store(postgres_url, pool_size=1), open_store(postgres_url, pool_size=1)
    try:
        with db.connect() as conn:
            lost = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with admin.connect() as conn:
            assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({lost})").scalar_one()
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        with db.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != lost
    finally:
        db.dispose()
        admin.dispose()


def test_reads_on_postgresql_run_without_a_transaction(postgres_url: str) -> None:
    db = open_store(postgres_url)
    try:
        with reader(db).connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            assert conn.connection.dbapi_connection.autocommit is True  # type: ignore[union-attr]
        with db.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
        assert reader(db) is reader(db)
    finally:
        db.dispose()
