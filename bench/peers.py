"""The peers, on the same PostgreSQL server, measured as ours is: PgQueuer and procrastinate.

Each drains no-op jobs with its own worker command and is enqueued through its own API,
on a connection opened before the clock starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import procrastinate
import psycopg
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from bench.common import (
    PYTHON,
    Workers,
    clean_env,
    idle_sessions,
    log_dir,
    postmaster,
)
from bench.measure import Session, stamps_folder
from bench.pgq_app import ENTRYPOINT, STAMP
from bench.stamps import VARIABLE as STAMPS_VARIABLE
from policyjobs.testing.postgres import PostgresServer
from policyjobs.testing.waiting import wait_until


@dataclass(frozen=True)
class PeerConfig:
    """Worker processes and the peer's own knob: PgQueuer's batch, procrastinate's
    concurrency (and, with it, the size of its connection pool)."""

    workers: int
    batch_size: int = 10  # PgQueuer: --batch-size
    concurrency: int = 1  # procrastinate: --concurrency

    def label(self, peer: str) -> str:
        """A short name, also used for the run's database."""
        knob = f"{self.batch_size}b" if peer == "pgqueuer" else f"{self.concurrency}c"
        return f"{self.workers}w_{knob}"

    def as_json(self, peer: str) -> dict[str, int]:
        """The configuration as plain JSON values."""
        knob = "batch_size" if peer == "pgqueuer" else "concurrency"
        return {"workers": self.workers,
                knob: self.batch_size if peer == "pgqueuer" else self.concurrency}


def _dsn(server: PostgresServer, database: str) -> str:
    return f"postgresql://{server.user}@{server.host}:{server.port}/{database}"


def _count(poll: psycopg.Connection, query: str) -> int:
    row = poll.execute(query).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def _workers(server: PostgresServer, peer: str, config: PeerConfig, name: str, argv: list[str],
             database: str, idle_query: str, **env: str) -> Iterator[tuple[Workers, Path]]:
    """The peer's workers on `database`, started and listening; with their stamps folder."""
    dsn = _dsn(server, database)
    folder = stamps_folder(log_dir(), f"{peer}-{name}")
    workers = Workers(f"{peer}-{name}", argv,
                      clean_env(BENCH_PG_DSN=dsn, **{STAMPS_VARIABLE: str(folder)}, **env),
                      config.workers)
    try:
        wait_until(lambda: idle_sessions(dsn, database, idle_query) >= config.workers,
                   timeout=60, what=f"{peer} workers to listen", check=workers.check)
        time.sleep(0.3)
        yield workers, folder
    finally:
        workers.stop()


# -- PgQueuer -----------------------------------------------------------------------------------


@contextmanager
def pgqueuer(server: PostgresServer, config: PeerConfig, name: str) -> Iterator[Session]:
    """PgQueuer: `python -m bench.pgq_app --batch-size B` (pgqueuer.run) on durable tables,
    enqueued with `Queries.enqueue` over asyncpg."""
    database = f"pgqueuer_{name}"
    server.create_database(database)
    dsn = _dsn(server, database)
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(asyncpg.connect(dsn=dsn))
    queries = Queries(AsyncpgDriver(connection))
    loop.run_until_complete(queries.install())
    argv = [PYTHON, "-m", "bench.pgq_app", "--batch-size", str(config.batch_size)]
    try:
        with _workers(server, "pgqueuer", config, name, argv, database,
                      "%queued_work%") as (workers, folder), \
                psycopg.connect(dsn, autocommit=True) as poll:

            def enqueue(size: int, stamped: bool) -> None:
                if stamped:
                    sent = str(time.time()).encode()
                    loop.run_until_complete(queries.enqueue([STAMP] * size, [sent] * size,
                                                            [0] * size))
                else:
                    loop.run_until_complete(queries.enqueue([ENTRYPOINT] * size,
                                                            [None] * size, [0] * size))

            yield Session(
                "pgqueuer", config.as_json("pgqueuer"), enqueue,
                unfinished=lambda: bool(_count(poll, "SELECT EXISTS (SELECT 1 FROM pgqueuer)")),
                succeeded=lambda: _count(poll, "SELECT count(*) FROM pgqueuer_log WHERE "
                                               f"status = 'successful' AND entrypoint = "
                                               f"'{ENTRYPOINT}'"),
                workers=workers, postmaster=postmaster(server), stamps=folder)
    finally:
        loop.run_until_complete(connection.close())
        loop.close()


# -- procrastinate ------------------------------------------------------------------------------


@contextmanager
def procrastinate_(server: PostgresServer, config: PeerConfig, name: str) -> Iterator[Session]:
    """procrastinate: `procrastinate --app bench.procrastinate_app.app worker --concurrency C`
    with a pool of C connections, enqueued with `batch_defer` over psycopg."""
    database = f"procrastinate_{name}"
    server.create_database(database)
    dsn = _dsn(server, database)
    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=dsn))
    argv = [PYTHON, "-m", "procrastinate", "--app", "bench.procrastinate_app.app",
            "--log-level", "warning", "worker", "--queues", "bench",
            "--concurrency", str(config.concurrency)]
    with app.open():
        app.schema_manager.apply_schema()
        deferrer = app.configure_task("noop", queue="bench")
        with _workers(server, "procrastinate", config, name, argv, database, "LISTEN%",
                      BENCH_POOL=str(config.concurrency)) as (workers, folder), \
                psycopg.connect(dsn, autocommit=True) as poll:

            def enqueue(size: int, stamped: bool) -> None:
                del stamped  # procrastinate's latency is not measured
                deferrer.batch_defer(*({} for _ in range(size)))

            yield Session(
                "procrastinate", config.as_json("procrastinate"), enqueue,
                unfinished=lambda: bool(_count(
                    poll, "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs "
                          "WHERE status IN ('todo', 'doing'))")),
                succeeded=lambda: _count(poll, "SELECT count(*) FROM procrastinate_jobs "
                                               "WHERE status = 'succeeded'"),
                workers=workers, postmaster=postmaster(server), stamps=folder)
