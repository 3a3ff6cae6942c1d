"""The peers, on the same PostgreSQL server with the same job count: PgQueuer and procrastinate.

Each drains no-op jobs with its own worker command, enqueued in batches with its own API,
timed as ours is: workers idle and listening, then from the first enqueue to the moment
the queue holds nothing unfinished (polled every 20 ms).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]
import procrastinate
import psycopg
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from bench.common import (
    POLL_SECONDS,
    PYTHON,
    RUN_TIMEOUT,
    BenchError,
    CpuMeter,
    RunResult,
    Workers,
    clean_env,
    idle_sessions,
    say,
    wait_until,
)
from bench.pgq_app import ENTRYPOINT
from policyjobs.testing.postgres import PostgresServer

ENQUEUE_BATCH = 1000


@dataclass(frozen=True)
class PeerConfig:
    """Worker processes and the peer's own knob: PgQueuer's batch, procrastinate's concurrency."""

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


def _postmaster(server: PostgresServer) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])


def _dsn(server: PostgresServer, database: str) -> str:
    return f"postgresql://{server.user}@{server.host}:{server.port}/{database}"


def _one(dsn: str, query: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _run(server: PostgresServer, peer: str, config: PeerConfig, jobs: int,
         prepare: Callable[[str], None], argv: list[str],
         enqueue: Callable[[str], None], unfinished: str, succeeded: str,
         idle_query: str) -> RunResult:
    """The timing shared by both peers; `prepare`/`enqueue` take the database's DSN."""
    label = config.label(peer)
    result = RunResult(peer, config.as_json(peer), jobs, 0.0)
    database = f"{peer}_{label}"
    server.create_database(database)
    dsn = _dsn(server, database)
    workers: Workers | None = None
    try:
        prepare(dsn)
        workers = Workers(f"{peer}-{label}", argv, clean_env(BENCH_PG_DSN=dsn), config.workers)
        live = workers
        wait_until(f"{peer} workers to listen",
                   lambda: idle_sessions(dsn, database, idle_query) >= config.workers, 60,
                   live.check)
        time.sleep(0.3)
        meter = CpuMeter(lambda: live.pids, _postmaster(server))
        with psycopg.connect(dsn, autocommit=True) as poll:
            start = time.perf_counter()
            enqueue(dsn)
            result.enqueue_seconds = time.perf_counter() - start

            def drained() -> bool:
                row = poll.execute(unfinished).fetchone()
                return not (row and row[0])

            wait_until(f"{peer} to drain", drained, RUN_TIMEOUT, live.check, POLL_SECONDS)
            result.seconds = time.perf_counter() - start
            result.cpu_workers_s, result.cpu_postgres_s, result.cpu_bench_s = meter.stop()
        done = _one(dsn, succeeded)
        if done != jobs:
            raise BenchError(f"{done} of {jobs} jobs succeeded")
    except BenchError as exc:
        result.error = str(exc)
        say(f"{peer} {label} failed: {exc}")
    finally:
        if workers:
            workers.stop()
    return result


# -- PgQueuer -----------------------------------------------------------------------------------


async def _pgq_install(dsn: str) -> None:
    connection = await asyncpg.connect(dsn=dsn)
    try:
        await Queries(AsyncpgDriver(connection)).install()
    finally:
        await connection.close()


async def _pgq_enqueue(dsn: str, jobs: int) -> None:
    connection = await asyncpg.connect(dsn=dsn)
    try:
        queries = Queries(AsyncpgDriver(connection))
        left = jobs
        while left > 0:
            size = min(ENQUEUE_BATCH, left)
            await queries.enqueue([ENTRYPOINT] * size, [None] * size, [0] * size)
            left -= size
    finally:
        await connection.close()


def pgqueuer(server: PostgresServer, config: PeerConfig, jobs: int) -> RunResult:
    """PgQueuer: `python -m bench.pgq_app --batch-size B` (pgqueuer.run), durable tables."""
    argv = [PYTHON, "-m", "bench.pgq_app", "--batch-size", str(config.batch_size)]
    return _run(
        server, "pgqueuer", config, jobs,
        prepare=lambda dsn: asyncio.run(_pgq_install(dsn)),
        argv=argv,
        enqueue=lambda dsn: asyncio.run(_pgq_enqueue(dsn, jobs)),
        unfinished="SELECT EXISTS (SELECT 1 FROM pgqueuer)",
        succeeded="SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'",
        idle_query="%queued_work%",  # an idle PgQueuer's last query, after its LISTEN
    )


# -- procrastinate ------------------------------------------------------------------------------


def _procrastinate_app(dsn: str) -> procrastinate.App:
    return procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=dsn))


def _procrastinate_enqueue(dsn: str, jobs: int) -> None:
    app = _procrastinate_app(dsn)
    with app.open():
        deferrer = app.configure_task("noop", queue="bench")
        left = jobs
        while left > 0:
            size = min(ENQUEUE_BATCH, left)
            deferrer.batch_defer(*({} for _ in range(size)))
            left -= size


def _procrastinate_schema(dsn: str) -> None:
    app = _procrastinate_app(dsn)
    with app.open():
        app.schema_manager.apply_schema()


def procrastinate_run(server: PostgresServer, config: PeerConfig, jobs: int) -> RunResult:
    """procrastinate: `procrastinate --app bench.procrastinate_app.app worker --concurrency C`."""
    argv = [PYTHON, "-m", "procrastinate", "--app", "bench.procrastinate_app.app",
            "--log-level", "warning", "worker", "--queues", "bench",
            "--concurrency", str(config.concurrency)]
    return _run(
        server, "procrastinate", config, jobs,
        prepare=_procrastinate_schema,
        argv=argv,
        enqueue=lambda dsn: _procrastinate_enqueue(dsn, jobs),
        unfinished="SELECT EXISTS (SELECT 1 FROM procrastinate_jobs "
                   "WHERE status IN ('todo', 'doing'))",
        succeeded="SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'",
        idle_query="LISTEN%",
    )


def sweep(server: PostgresServer, peer: str, configs: list[PeerConfig],
          jobs: int) -> list[RunResult]:
    """One run per configuration of `peer`."""
    run = pgqueuer if peer == "pgqueuer" else procrastinate_run
    results = []
    for config in configs:
        say(f"{peer}: {config.label(peer)}, {jobs} jobs")
        result = run(server, config, jobs)
        say(f"  -> {result.jobs_per_s:,.0f} jobs/s in {result.seconds:.2f}s")
        results.append(result)
    return results
