"""Rows that change a few times a year but are read for nearly every job, kept in memory by
each process while it hears of every change to them.

A tenant's row is read for each invoice (does the tenant define invoice documents?) and its
webhook endpoints for each event: some 48,000 reads in a 2,000-policy billing year, a
tenth of its statements, of rows an operator changes a few times a year. On PostgreSQL a
trigger on each of those tables notifies `CHANNEL` with the table's name when a change to it
commits (migration 0024), and each process whose `Kept` listens there serves reads of them
from memory, dropping what it kept of a table at every notice of a change to it.

How old a kept row may be: a notice's latency after the change committed (a millisecond or
two on one host), as old as a read in a transaction that began just before the change.
Every row kept is read again after `TTL` however quiet the channel, so a notice lost with a
connection that died without a word is outlived too. A transaction that writes a kept table
reads it from the store until it ends, and its commit drops what this process kept of the
table at once, before any notice. While the listening connection is down nothing is kept.
SQLite keeps nothing: it has no notices, and its reads are local.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.sql.dml import UpdateBase

from policyjobs.engine.listener import Stop, heard

log = structlog.get_logger("policyjobs.kept")

CHANNEL = "policyjobs_changes"
TABLES = frozenset({"tenants", "webhook_endpoints"})  # those whose triggers notify
TTL = 30.0  # seconds a row is kept at most
_PROBE_EVERY = 5.0  # seconds between checks that the listening connection still answers
_WROTE = "policyjobs_wrote_kept"  # in a connection's info: the kept tables its transaction wrote
_MISSING = object()

T = TypeVar("T")

_BY_POOL: weakref.WeakKeyDictionary[sa.Pool, Kept] = weakref.WeakKeyDictionary()


def read_kept(conn: sa.Connection, table: str, key: str, load: Callable[[], T]) -> T:
    """What `load` reads of `table` for `key` (in `conn`'s transaction), or what this process
    kept of it, if it listens for the store's changes."""
    kept = _BY_POOL.get(conn.engine.pool)
    return load() if kept is None else kept.read(conn, table, key, load)


class Kept:
    """What one process keeps of a PostgreSQL store's kept tables, and the thread that
    listens for changes to them."""

    def __init__(self, db: sa.Engine) -> None:
        self._conninfo = db.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._db = db
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], tuple[Any, float]] = {}
        self._generation = 0  # moved by every drop: a read begun before one keeps nothing
        self._listening = False
        self._stop = Stop()
        self._thread = threading.Thread(target=self._listen, name="policyjobs-kept",
                                        daemon=True)

    @classmethod
    def for_store(cls, db: sa.Engine) -> Kept | None:
        """A `Kept` for `db` that listens once started, or None on SQLite."""
        return cls(db) if db.dialect.name == "postgresql" else None

    def start(self) -> None:
        """Listen for changes, and serve reads of the kept tables while listening."""
        event.listen(self._db, "before_execute", _note_writes)
        event.listen(self._db, "commit", self._on_commit)
        event.listen(self._db, "rollback", _on_rollback)
        _BY_POOL[self._db.pool] = self
        self._thread.start()

    def stop(self) -> None:
        """Stop listening, and keep nothing more."""
        _BY_POOL.pop(self._db.pool, None)
        self._stop.set()
        self._thread.join(timeout=3)
        if not self._thread.is_alive():
            self._stop.close()
        event.remove(self._db, "before_execute", _note_writes)
        event.remove(self._db, "commit", self._on_commit)
        event.remove(self._db, "rollback", _on_rollback)

    @property
    def listening(self) -> bool:
        """Whether reads are served from memory now."""
        return self._listening

    def read(self, conn: sa.Connection, table: str, key: str, load: Callable[[], T]) -> T:
        """What `load` reads, kept for the next read unless a change came meanwhile."""
        if not self._listening or table in conn.info.get(_WROTE, ()) or (
                os.getpid() != self._pid):  # a forked child: its parent's thread is not here
            return load()
        now = time.monotonic()
        with self._lock:
            found, kept_at = self._rows.get((table, key), (_MISSING, 0.0))
            generation = self._generation
        if found is not _MISSING and now - kept_at < TTL:
            return found  # type: ignore[no-any-return]
        value = load()
        with self._lock:
            if self._generation == generation and self._listening:
                self._rows[(table, key)] = (value, now)
        return value

    def _drop(self, table: str | None) -> None:
        """Drop what is kept of `table` (of every table, if None)."""
        with self._lock:
            self._generation += 1
            self._rows = {k: v for k, v in self._rows.items() if table and k[0] != table}

    def _on_commit(self, conn: sa.Connection) -> None:
        for table in () if conn.invalidated else conn.info.pop(_WROTE, ()):
            self._drop(table)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as listener:
                    listener.execute(f"LISTEN {CHANNEL}")
                    self._hear(listener)
            except Exception as exc:  # never let the thread die: keep nothing, reconnect
                log.warning("lost the connection that hears of changes; reconnecting",
                            error=str(exc).strip() or type(exc).__name__)
            finally:
                self._keep(False)
            self._stop.wait(1.0)

    def _hear(self, listener: psycopg.Connection[Any]) -> None:
        """Drop what each notice names until stopped. At once and every few seconds, check
        that the server still answers (raising if not), and begin keeping once the store
        has its triggers (one not yet migrated has none)."""
        probed = float("-inf")
        while not self._stop.is_set():
            if time.monotonic() - probed > _PROBE_EVERY:
                probed = time.monotonic()
                if _triggers(listener) == len(TABLES) and not self._listening:
                    self._keep(True)
            until_probe = max(0.0, probed + _PROBE_EVERY - time.monotonic())
            for notice in heard(listener, self._stop, until_probe):
                self._drop(notice.payload if notice.payload in TABLES else None)

    def _keep(self, listening: bool) -> None:
        """Begin or stop keeping, with nothing kept: what was read before listening may
        have changed unheard."""
        with self._lock:
            self._rows, self._listening = {}, listening
            self._generation += 1


def _triggers(listener: psycopg.Connection[Any]) -> int:
    """How many of the kept tables' triggers the store has."""
    row = listener.execute("SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s)",
                           ([f"{table}_changed" for table in sorted(TABLES)],)).fetchone()
    return int(row[0]) if row else 0


def _note_writes(conn: sa.Connection, clause: Any, *_: Any) -> None:
    """Mark the transaction of `conn` as having written a kept table, if `clause` does."""
    if isinstance(clause, UpdateBase) and (name := getattr(clause.table, "name", None)) in TABLES:
        conn.info.setdefault(_WROTE, set()).add(name)


def _on_rollback(conn: sa.Connection) -> None:
    # A connection the server dropped has no info to reach (SQLAlchemy would raise in place
    # of the error that dropped it); its info goes with it.
    if not conn.invalidated:
        conn.info.pop(_WROTE, None)
