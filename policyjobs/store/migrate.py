"""Bringing the store's schema up to date with Alembic, once even when many processes start."""

from __future__ import annotations

from importlib.resources import files

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

# Any fixed number: the PostgreSQL advisory lock that serializes concurrent migrations.
_MIGRATION_LOCK = 0x706F6C6A


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("policyjobs.store") / "migrations"))
    return config


def migrate(db: sa.Engine) -> None:
    """Apply every migration the store lacks."""
    config = _config()
    with db.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
            conn.commit()
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
            if conn.dialect.name == "postgresql":  # fresh statistics for the claim's plan
                conn.exec_driver_sql("ANALYZE jobs")
                conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
                conn.commit()
