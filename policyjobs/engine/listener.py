"""Waking a worker as soon as another process enqueues: PostgreSQL `LISTEN`, or on SQLite,
watching the file's `PRAGMA data_version`."""

from __future__ import annotations

import select
import socket
import sqlite3
import threading
from abc import ABC, abstractmethod
from contextlib import suppress
from typing import Any

import psycopg
import sqlalchemy as sa
import structlog

from policyjobs.engine.postgres import CHANNEL

log = structlog.get_logger("policyjobs.listener")

IDLE = 5.0  # seconds a listening thread waits on a quiet connection before looking again


class Stop:
    """A thread's stop flag, which also wakes it from a wait on a connection's socket
    (`heard`): stopping a listening thread takes no longer than its thread needs to see it."""

    def __init__(self) -> None:
        self._flag = threading.Event()
        self._readable, self._writable = socket.socketpair()

    def set(self) -> None:
        """Stop: the thread's waits end now."""
        self._flag.set()
        with suppress(OSError):  # closed: no one waits on it any more
            self._writable.send(b"\0")

    def is_set(self) -> bool:
        """Whether stopped."""
        return self._flag.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the stop; whether stopped."""
        return self._flag.wait(seconds)

    def fileno(self) -> int:
        """What `select` waits on: readable once stopped."""
        return self._readable.fileno()

    def close(self) -> None:
        """Close its sockets, once no thread waits on them."""
        self._readable.close()
        self._writable.close()


def heard(conn: psycopg.Connection[Any], stop: Stop, timeout: float) -> list[psycopg.Notify]:
    """The notices `conn` received (while running a statement, too), else those that arrive
    within `timeout` seconds: none once `stop` is set. A lost connection raises."""
    notices = list(conn.notifies(timeout=0))
    if not notices and not stop.is_set():
        select.select([conn.fileno(), stop.fileno()], [], [], timeout)
        notices = list(conn.notifies(timeout=0))
    return notices


class Waker(ABC):
    """A thread that sets a worker's signal when another process enqueues, until stopped."""

    def __init__(self, signal: threading.Event, name: str) -> None:
        self._signal = signal
        self._stop = Stop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @staticmethod
    def for_engine(db: sa.Engine, signal: threading.Event) -> Waker | None:
        """What wakes a worker of `db`: a listener on PostgreSQL, a watcher of a SQLite file."""
        if db.dialect.name == "sqlite":
            path = db.url.database
            return FileWatcher(path, signal) if path and path != ":memory:" else None
        url = db.url.set(drivername="postgresql")
        return Listener(url.render_as_string(hide_password=False), signal)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, which closes its connection."""
        self._stop.set()
        self._thread.join(timeout=3)
        if not self._thread.is_alive():
            self._stop.close()

    @abstractmethod
    def _run(self) -> None:
        """Watch until `_stop` is set, reconnecting after any failure."""


class Listener(Waker):
    """A thread holding one `LISTEN` connection, reconnecting after any failure."""

    def __init__(self, conninfo: str, signal: threading.Event) -> None:
        super().__init__(signal, "policyjobs-listener")
        self._conninfo = conninfo

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._signal.set()  # catch anything enqueued while not listening
                    while not self._stop.is_set():
                        if heard(conn, self._stop, IDLE):
                            self._signal.set()
            except psycopg.Error as exc:
                log.warning("listen connection lost; reconnecting", error=str(exc).strip())
                self._stop.wait(1.0)


class FileWatcher(Waker):
    """A thread that wakes the worker when another connection commits to a SQLite file.

    SQLite has no notifications, but `PRAGMA data_version` changes whenever another
    connection commits, and reading it touches no table: checked every few milliseconds
    it costs a fraction of a percent of a core, and brings a job enqueued by another
    process to an idle worker within milliseconds instead of at its next poll.
    """

    INTERVAL = 0.005  # seconds between checks

    def __init__(self, path: str, signal: threading.Event) -> None:
        super().__init__(signal, "policyjobs-file-watcher")
        self._path = path

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn = sqlite3.connect(self._path, timeout=5, check_same_thread=False)
                try:
                    self._watch(conn)
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                log.warning("cannot watch the SQLite file; retrying", error=str(exc))
                self._stop.wait(1.0)

    def _watch(self, conn: sqlite3.Connection) -> None:
        seen = conn.execute("PRAGMA data_version").fetchone()[0]
        self._signal.set()  # catch anything committed before watching
        while not self._stop.wait(self.INTERVAL):
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != seen:
                seen = version
                self._signal.set()
