"""One source per table: the migrations build exactly the tables the code declares."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import policyjobs.app  # noqa: F401 - imports every domain, so each declares its tables
from policyjobs.store.database import open_store
from policyjobs.store.migrate import migrate
from policyjobs.store.schema import metadata


def differences(db: sa.Engine) -> list[Any]:
    """What Alembic's autogenerate would change to make the store match the metadata."""
    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_the_migrations_build_the_declared_tables(database_url: str) -> None:
    db = open_store(database_url)
    try:
        migrate(db)

        assert differences(db) == []
        assert set(sa.inspect(db).get_table_names()) == {*metadata.tables, "alembic_version"}
    finally:
        db.dispose()


def test_a_drift_between_them_is_found(database_url: str) -> None:
    db = open_store(database_url)
    try:
        migrate(db)
        with db.begin() as conn:
            conn.exec_driver_sql("DROP INDEX documents_tenant")
            conn.exec_driver_sql("CREATE TABLE stray (id INTEGER PRIMARY KEY)")

        found = {(change[0], getattr(change[1], "name", None)) for change in differences(db)}

        assert ("add_index", "documents_tenant") in found
        assert ("remove_table", "stray") in found
    finally:
        db.dispose()
