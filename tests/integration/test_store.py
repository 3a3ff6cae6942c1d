"""The store's connection handling: PostgreSQL's pool, SQLite's write lock."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from policyjobs.store import database
from policyjobs.store.database import open_store, reader
from policyjobs.store.readers import reads_for


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


def test_a_sqlite_writer_takes_the_lock_as_soon_as_it_is_free(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        holding, taken = threading.Event(), []

        def hold(seconds: float) -> None:
            with db.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                holding.set()
                time.sleep(seconds)

        holder = threading.Thread(target=hold, args=(0.2,))
        holder.start()
        holding.wait()
        began = time.monotonic()
        with db.begin() as conn:  # waits for the holder's commit, then sees its row
            taken.append(time.monotonic() - began)
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 1
        holder.join()
        assert 0.1 < taken[0] < 2.0
        with db.connect() as conn:  # the connection waits on busy_timeout again afterwards
            waits = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
        assert waits == database.BUSY_TIMEOUT_MS

        monkeypatch.setattr(database, "WRITE_LOCK_TIMEOUT", 0.1)
        holding.clear()
        holder = threading.Thread(target=hold, args=(1.0,))
        holder.start()
        holding.wait()
        with pytest.raises(sa.exc.OperationalError, match="locked"), db.begin():
            pass
        holder.join()
    finally:
        db.dispose()


def test_sqlite_writers_of_one_process_wait_their_turn_without_retrying(tmp_path: Path) -> None:
    db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    tries: list[str] = []

    @sa.event.listens_for(db, "before_cursor_execute")
    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement == "BEGIN IMMEDIATE":
            tries.append(statement)

    try:
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")

        def write() -> None:
            for _ in range(25):
                with db.begin() as conn:
                    conn.exec_driver_sql("INSERT INTO t VALUES (1)")

        writers = [threading.Thread(target=write) for _ in range(8)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert len(tries) == 201  # the table's and each insert's: none found the lock taken
        with db.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 200
    finally:
        db.dispose()


def test_a_sqlite_writer_that_failed_or_was_dropped_lets_the_next_one_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db, other_process = open_store(url), open_store(url)
    monkeypatch.setattr(database, "WRITE_LOCK_TIMEOUT", 0.2)
    try:
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        # Another process holds SQLite's lock past the writer's patience.
        with other_process.begin(), pytest.raises(sa.exc.OperationalError, match="locked"), \
                db.begin():
            pass
        with db.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")

        conn = db.connect()
        conn.begin()
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        conn.invalidate()  # its connection dropped mid-transaction: the lock goes with it
        with db.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (3)")
        with db.connect() as conn:
            rows = conn.exec_driver_sql("SELECT n FROM t ORDER BY n").scalars().all()
        assert rows == [1, 3]
    finally:
        db.dispose()
        other_process.dispose()


def test_api_reads_take_a_url_with_settings_only_libpq_knows(postgres_url: str) -> None:
    """The URL the engine opens with psycopg also serves the API's asyncpg reads."""
    url = sa.make_url(postgres_url).update_query_dict(
        {"keepalives": "1", "keepalives_idle": "30", "connect_timeout": "5",
         "application_name": "mine"})

    db = open_store(url.render_as_string(hide_password=False))

    async def read() -> str:
        reads = reads_for(db)
        try:
            [row] = await reads.all(
                sa.select(sa.func.current_setting("application_name").label("name")), {})
            return str(row.name)
        finally:
            await reads.close()

    try:
        assert asyncio.run(read()) == "policyjobs-api"
    finally:
        db.dispose()


def test_a_store_error_never_shows_the_values_it_was_given(database_url: str) -> None:
    """Errors are logged, and a statement's values are a tenant's data: they stay out."""
    db = open_store(database_url)
    try:
        with pytest.raises(sa.exc.DBAPIError) as raised, db.connect() as conn:
            conn.execute(sa.text("SELECT :name FROM no_such_table"), {"name": "Ada Insured"})
        assert "no_such_table" in str(raised.value)
        assert "Ada Insured" not in str(raised.value)
    finally:
        db.dispose()
