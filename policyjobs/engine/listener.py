"""PostgreSQL `LISTEN`: wakes a worker as soon as a job is enqueued elsewhere."""

from __future__ import annotations

import threading

import psycopg
import sqlalchemy as sa
import structlog

from policyjobs.engine.postgres import CHANNEL

log = structlog.get_logger("policyjobs.listener")


class Listener:
    """A thread holding one `LISTEN` connection, reconnecting after any failure."""

    def __init__(self, conninfo: str, signal: threading.Event) -> None:
        self._conninfo = conninfo
        self._signal = signal
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="policyjobs-listener", daemon=True)

    @classmethod
    def for_engine(cls, db: sa.Engine, signal: threading.Event) -> Listener | None:
        """A listener for `db` if it is PostgreSQL; SQLite workers poll instead."""
        if db.dialect.name != "postgresql":
            return None
        url = db.url.set(drivername="postgresql")
        return cls(url.render_as_string(hide_password=False), signal)

    def start(self) -> None:
        """Start listening."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection."""
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._signal.set()  # catch anything enqueued while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.2, stop_after=1):
                            self._signal.set()
            except psycopg.Error as exc:
                log.warning("listen connection lost; reconnecting", error=str(exc).strip())
                self._stop.wait(1.0)
