"""Bringing the store's schema up to date with Alembic, once even when many processes start."""

from __future__ import annotations

import time
from importlib.resources import files

import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

# Any fixed number: the PostgreSQL advisory lock that serializes concurrent migrations.
_MIGRATION_LOCK = 0x706F6C6A
# How long a process starting while PostgreSQL is away (restarting, failing over) waits for
# it before it gives up; a restart takes seconds.
START_PATIENCE_SECONDS = 30.0
# SQLSTATE classes of a server that is away for now: a connection exception, or an
# operator's intervention (shutting down, starting up).
_AWAY = ("08", "57")
# A failure to connect carries no SQLSTATE. One the server did not answer (refused, reset,
# timed out) is away; one it refused with a FATAL is a wrong name or password, unless the
# FATAL says the server is on its way down or up.
_AWAY_FATAL = ("the database system is starting up", "the database system is shutting down",
               "the database system is in recovery mode",
               "the database system is not yet accepting connections")

log = structlog.get_logger("policyjobs.store")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("policyjobs.store") / "migrations"))
    return config


class StoreTooNew(Exception):
    """The store was migrated by a newer release than this one."""


def store_away(exc: sa.exc.DBAPIError) -> bool:
    """Whether `exc` says a PostgreSQL store cannot be reached for now, rather than that the
    configuration or the request is wrong (a bad password or database name, say)."""
    if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return False
    state = getattr(exc.orig, "sqlstate", None)
    if state is not None:
        return str(state)[:2] in _AWAY
    message = str(exc.orig)
    return "FATAL:" not in message or any(away in message for away in _AWAY_FATAL)


def migrate_when_up(db: sa.Engine, *, patience: float = START_PATIENCE_SECONDS) -> None:
    """`migrate`, tried again while a PostgreSQL store is away, for up to `patience` seconds:
    a worker started during a restart of the database comes up with it instead of exiting.
    Any other failure, or an absence that outlasts the patience, is raised."""
    deadline, pause = time.monotonic() + patience, 0.5
    while True:
        try:
            migrate(db)
            return
        except sa.exc.DBAPIError as exc:
            if (db.dialect.name != "postgresql" or not store_away(exc)
                    or time.monotonic() + pause > deadline):
                raise
            log.warning("the store cannot be reached; trying again",
                        reason=str(exc.orig).strip(), seconds=pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


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
            if conn.in_transaction():  # a failed step: unlock outside what it left
                conn.rollback()
            # A connection the server dropped took its session's lock with it.
            if conn.dialect.name == "postgresql" and not conn.invalidated:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
                conn.commit()
