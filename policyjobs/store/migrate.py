"""Bringing the store's schema up to date with Alembic, once even when many processes start."""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from policyjobs.exceptions import PolicyjobsError

# Alembic (with the templating and highlighting it loads, a tenth of a second) is imported
# where a migration may be needed, not by every process that starts on a store at its head.
if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext, MigrationInfo

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


def alembic_config() -> Config:
    """Alembic's configuration of the store's migrations; `attributes["connection"]` is set
    by whoever runs them, to a connection or an engine."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("policyjobs.store") / "migrations"))
    return config


class StoreTooNew(PolicyjobsError):
    """The store was migrated by a newer release than this one."""


class MigrationBroke(PolicyjobsError):
    """A revision would leave rows that reference rows which are gone; it is not recorded."""


def run_revisions(context: EnvironmentContext) -> None:
    """Run the revisions Alembic chose (`env.py` calls this) on the connection or engine in
    `attributes["connection"]`, each in its own transaction.

    On SQLite, foreign keys are off while revisions run: a batch change of a table copies it
    and drops the original, and with them on, that drop deletes, through `ON DELETE
    CASCADE`, every row of every table that references it (revision 0012 lost the documents
    and installments jobs' data so). The pragma only takes effect outside a transaction, so
    it is set on the connection before Alembic begins one. Before each revision is recorded,
    `PRAGMA foreign_key_check` must find no row whose reference is missing. PostgreSQL
    changes tables in place and refuses to drop one that others reference.
    """
    given = context.config.attributes["connection"]
    with _connected(given) as conn, _foreign_keys_off(conn):
        context.configure(connection=conn, render_as_batch=True, transaction_per_migration=True,
                          target_metadata=context.config.attributes.get("target_metadata"),
                          compare_type=True, on_version_apply=_references_kept)
        with context.begin_transaction():
            context.run_migrations()


@contextmanager
def _connected(given: sa.Engine | sa.Connection) -> Iterator[sa.Connection]:
    if isinstance(given, sa.Connection):
        yield given
        return
    with given.connect() as conn:
        yield conn


@contextmanager
def _foreign_keys_off(conn: sa.Connection) -> Iterator[None]:
    if conn.dialect.name != "sqlite":
        yield
        return
    if conn.in_transaction():
        raise RuntimeError("SQLite migrations need a connection outside a transaction, so that "
                           "foreign keys can be turned off while they run")
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if conn.in_transaction():  # a failed revision: what it left is rolled back
            conn.rollback()
        driver.execute("PRAGMA foreign_keys=ON")


def _references_kept(ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any],
                     run_args: Mapping[str, Any]) -> None:
    """Refuse to record a revision after which some row references a row that is gone."""
    if ctx.dialect.name != "sqlite" or ctx.connection is None:
        return
    broken = ctx.connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        found = ", ".join(f"{table} row {rowid} → {parent}"
                          for table, rowid, parent, _ in broken[:5])
        raise MigrationBroke(f"revision {step.up_revision_id} leaves {len(broken)} rows whose "
                             f"references are missing ({found}); it was rolled back")


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


def head_revision() -> str:
    """This release's newest schema revision. Revisions are numbered as their files are
    (`0024_change_notices.py` is `0024`), so the highest number is the head
    (test_migrations.py holds it to Alembic's)."""
    versions = files("policyjobs.store") / "migrations" / "versions"
    return max(entry.name[:4] for entry in versions.iterdir()
               if _REVISION_FILE.fullmatch(entry.name))


_REVISION_FILE = re.compile(r"\d{4}_\w+\.py")


def at_head(db: sa.Engine) -> bool:
    """Whether the store is at this release's head, by one read of Alembic's version table;
    False where it cannot tell (a fresh store has no such table)."""
    try:
        with db.connect() as conn:
            found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except sa.exc.DBAPIError:
        return False
    return [row[0] for row in found] == [head_revision()]


def migrate(db: sa.Engine) -> None:
    """Apply every migration the store lacks, or `StoreTooNew`. A store at this release's
    head, as at every start of a process but the first, is seen so in one read, without
    loading Alembic's scripts (a quarter of a second of every command and worker start)."""
    if at_head(db):
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config()
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
            conn.rollback()  # each revision runs in a transaction of its own
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
