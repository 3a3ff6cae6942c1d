"""Bringing the store's schema up to date with Alembic, once even when many processes start."""

from __future__ import annotations

from importlib.resources import files

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

# Any fixed number: the PostgreSQL advisory lock that serializes concurrent migrations.
_MIGRATION_LOCK = 0x706F6C6A


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("policyjobs.store") / "migrations"))
    return config


class StoreTooNew(Exception):
    """The store was migrated by a newer release than this one."""


def migrate(db: sa.Engine) -> None:
    """Apply every migration the store lacks, or `StoreTooNew`."""
    config = _config()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    with db.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
            conn.commit()
        try:
            if unknown := set(MigrationContext.configure(conn).get_current_heads()) - known:
                raise StoreTooNew(
                    f"the store is at schema revision {', '.join(sorted(unknown))}, which a "
                    f"newer release of policyjobs made; this release knows up to "
                    f"{max(known)}. Run the newer release, or restore the backup taken "
                    "before the upgrade.")
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
