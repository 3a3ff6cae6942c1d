"""Opening the store: SQLite in WAL mode with real transactions, or PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event

from policyjobs.engine import READ_ONLY

PING_AFTER_IDLE_SECONDS = 10.0
PLANS_KEPT_SECONDS = 1.0  # how long a connection's cached plans serve
_PLANNED_AT = "policyjobs_planned_at"
CONNECT_TIMEOUT_SECONDS = 5
# SQLite: how long a statement waits for a lock another connection holds, and a writer
# for the write lock (retried every 50 µs, doubling to 1 ms).
BUSY_TIMEOUT_MS = 30_000
WRITE_LOCK_TIMEOUT = BUSY_TIMEOUT_MS / 1000
_FIRST_PAUSE, _LONGEST_PAUSE = 0.00005, 0.001


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
    # A server that stopped answering (not refusing) fails a connect in seconds, not never.
    connect_args = {} if "connect_timeout" in parsed.query else {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS}
    db = sa.create_engine(
        parsed, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600,
        connect_args=connect_args, json_serializer=_json_text, json_deserializer=orjson.loads,
        hide_parameters=True,  # an error's text, which is logged, never shows a payload
    )
    _ping_when_idle(db)
    _plans_of_the_last_second(db)
    return db


def _plans_of_the_last_second(db: sa.Engine) -> None:
    """Let PostgreSQL reuse a statement's plan, but never one more than a second old.

    psycopg prepares a statement on its fifth run; PostgreSQL may then keep one generic
    plan for it, made for the tables as they were, until the next ANALYZE. Made while a
    young store's tables were empty, such a plan went on scanning them whole once they
    had grown: completing a batch of jobs scanned `jobs` once per job (2,600 jobs/s
    instead of 14,000, and nine seconds from enqueue to start under a steady load). So a
    transaction that begins on a connection whose plans are older than a second drops
    them first (`DISCARD PLANS`): every plan in use was made for the tables of the last
    second. Planning every statement afresh instead (`plan_cache_mode =
    force_custom_plan`) cost 40 s of planning against 60 s of execution in a
    2,000-policy billing year.
    """

    @event.listens_for(db, "connect")
    def no_plans_yet(_dbapi_connection: Any, record: Any) -> None:
        record.info[_PLANNED_AT] = time.monotonic()

    @event.listens_for(db, "begin")
    def drop_old_plans(conn: sa.Connection) -> None:
        now = time.monotonic()
        if now - conn.info.get(_PLANNED_AT, now) > PLANS_KEPT_SECONDS:
            conn.exec_driver_sql("DISCARD PLANS")
            conn.info[_PLANNED_AT] = now


def _ping_when_idle(db: sa.Engine) -> None:
    """Check a pooled connection before use only when it sat idle, not on every checkout.

    A connection back within seconds is alive; one that waited may have lost its server
    (a restart, a failover, a proxy's idle timeout) and is replaced before any query.
    On a busy API that saves a round trip on nearly every request.
    """

    @event.listens_for(db, "checkin")
    def idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(db, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            db.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: let the pool open a fresh connection
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _open_sqlite(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    db = sa.create_engine(url, connect_args={"timeout": WRITE_LOCK_TIMEOUT}, pool_size=20,
                          max_overflow=20, json_serializer=_json_text,
                          json_deserializer=orjson.loads, hide_parameters=True)

    @event.listens_for(db, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver, so SQLAlchemy's begin (below) owns the transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    gate = _WriterGate()

    @event.listens_for(db, "begin")
    def begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front, so they wait for it instead of failing on a
        # lock upgrade; readers stay concurrent with them under WAL.
        if conn.get_execution_options().get(READ_ONLY, False):
            conn.exec_driver_sql("BEGIN")
            return
        gate.enter(conn.connection.dbapi_connection)
        try:
            _take_write_lock(conn)
        except BaseException:
            gate.leave(conn.connection.dbapi_connection)
            raise

    gate.watch(db)
    return db


class _WriterGate:
    """One writer at a time per process waits for SQLite's write lock; the others wait here.

    Every writer that finds the lock taken retries `BEGIN IMMEDIATE` every fraction of a
    millisecond (`_take_write_lock`); a dozen of them in one process (`serve`'s API threads
    and workers) each spun so, taking CPU and turns at the GIL from the lock's holder (eight
    threads of 25 writes each tried 1,261 times; behind the gate, 201). Behind it a process
    has at most one writer spinning, against other processes; the rest sleep until the
    writer before them has committed or rolled back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: Any = None  # the DBAPI connection of the writer inside

    def enter(self, dbapi_connection: Any) -> None:
        if not self._lock.acquire(timeout=WRITE_LOCK_TIMEOUT):
            raise sa.exc.OperationalError(
                "BEGIN IMMEDIATE", None,
                sqlite3.OperationalError("database is locked (by a writer of this process)"))
        self._holder = dbapi_connection

    def leave(self, dbapi_connection: Any) -> None:
        """Let the next writer in, if `dbapi_connection` is the one inside; else nothing."""
        if dbapi_connection is not None and self._holder is dbapi_connection:
            self._holder = None
            self._lock.release()

    def watch(self, db: sa.Engine) -> None:
        """Leave as `db`'s writer ends: just after its COMMIT or ROLLBACK, the one the pool
        sends when a connection comes back included, or as its connection is dropped.

        SQLAlchemy's `commit` and `rollback` events come before the statement; a writer let
        in then would find the lock still held. So the gate wraps this engine's dialect's
        own two calls, which are the last word on the lock.
        """
        def leaving(call: Callable[[Any], None]) -> Callable[[Any], None]:
            def ended(connection: Any) -> None:  # the pool's proxy of a DBAPI connection
                try:
                    call(connection)
                finally:
                    self.leave(getattr(connection, "dbapi_connection", connection))
            return ended

        dialect = db.dialect
        dialect.do_commit = leaving(dialect.do_commit)  # type: ignore[method-assign, assignment]
        dialect.do_rollback = leaving(dialect.do_rollback)  # type: ignore[method-assign, assignment]
        event.listen(db.pool, "invalidate", lambda dbapi_connection, *_: self.leave(
            dbapi_connection))


def _take_write_lock(conn: sa.Connection) -> None:
    """`BEGIN IMMEDIATE`, retried every fraction of a millisecond while another writer holds
    the lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20 and 25 ms between tries, so a
    writer that finds the lock taken usually sleeps on long after it was freed: with an
    enqueuer and two workers taking turns, the lock sat idle half the time. Tried again
    within 50 µs to 1 ms, it changes hands as soon as it is free. Only one writer of a
    process tries at a time (`_WriterGate`): the lock it finds taken is another process's.
    """
    conn.exec_driver_sql("PRAGMA busy_timeout = 0")
    try:
        deadline, pause = time.monotonic() + WRITE_LOCK_TIMEOUT, _FIRST_PAUSE
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except sa.exc.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def reader(db: sa.Engine) -> sa.Engine:
    """`db` for the API's reads, which never write.

    On SQLite its transactions do not take the write lock. On PostgreSQL each statement
    runs on its own (autocommit), sparing every read its BEGIN and ROLLBACK round trips;
    so the statements of one request may see commits made between them.
    """
    options: dict[str, Any] = {READ_ONLY: True}
    if db.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return _with_options(db, "_policyjobs_reader", options)


def statements_alone(db: sa.Engine) -> sa.Engine:
    """`db` for work whose every statement stands alone: each needs none of the others to
    commit with it, so no transaction need bracket them.

    On PostgreSQL each statement commits on its own (autocommit), sparing the work its
    BEGIN and COMMIT round trips, a third of a one-statement write's; on SQLite the work
    runs in a writer's transaction, as any other, whose BEGIN and COMMIT are no round
    trips.
    """
    autocommit = {"isolation_level": "AUTOCOMMIT"} if db.dialect.name == "postgresql" else {}
    return _with_options(db, "_policyjobs_alone", autocommit)


def _with_options(db: sa.Engine, name: str, options: dict[str, Any]) -> sa.Engine:
    """`db` with execution `options` (`db` itself for none), kept on `db` as `name`: making
    one costs about 20 µs, so each engine keeps its own, and it goes with the engine."""
    found: sa.Engine | None = getattr(db, name, None)
    if found is None:
        found = db.execution_options(**options) if options else db
        setattr(db, name, found)
    return found
