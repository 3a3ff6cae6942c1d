"""Our engine: enqueue through the public API, drain with `policyjobs worker` processes."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import sqlalchemy as sa
from psycopg import sql as psql

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
    latency_summary,
    log_dir,
    say,
    wait_until,
)
from bench.noop_domain import KIND
from bench.noop_domain import domain as noop_domain
from policyjobs.app import build_runtime
from policyjobs.engine import NewJob
from policyjobs.engine.queue import QueueSettings
from policyjobs.engine.schema import jobs as jobs_table
from policyjobs.runtime import Runtime
from policyjobs.settings import Settings
from policyjobs.store.database import reader
from policyjobs.testing.postgres import PostgresServer

TENANT = "bench"
ENQUEUE_BATCH = 1000


@dataclass(frozen=True)
class OurConfig:
    """How `policyjobs worker` is run: processes, `--concurrency`, POLICYJOBS_BATCH_SIZE."""

    workers: int
    concurrency: int = 8
    batch_size: int = 100

    @property
    def label(self) -> str:
        """A short name, also used for the run's database."""
        return f"{self.workers}w_{self.concurrency}c_{self.batch_size}b"

    def as_json(self) -> dict[str, int]:
        """The configuration as plain JSON values."""
        return {"workers": self.workers, "concurrency": self.concurrency,
                "batch_size": self.batch_size}


class OurStore:
    """Where our engine runs: a fresh PostgreSQL database or SQLite file per run."""

    def __init__(self, dialect: str, server: PostgresServer | None = None,
                 database_settings: dict[str, str] | None = None) -> None:
        self.dialect = dialect
        self.server = server
        self.postmaster = _postmaster(server) if server else None
        # `ALTER DATABASE … SET` for each fresh database: for experiments, not the benchmark.
        self.database_settings = database_settings or {}

    @property
    def system(self) -> str:
        """The name results carry: ours/postgresql or ours/sqlite."""
        return f"ours/{self.dialect}"

    def fresh(self, name: str) -> str:
        """The URL of a new, empty store called `name`."""
        if self.server:
            url = self.server.create_database(f"ours_{name}")
            if self.database_settings:
                with psycopg.connect(_conninfo(self.server, f"ours_{name}"),
                                     autocommit=True) as conn:
                    for key, value in self.database_settings.items():
                        conn.execute(psql.SQL("ALTER DATABASE {} SET {} = {}").format(
                            psql.Identifier(f"ours_{name}"), psql.Identifier(key),
                            psql.Literal(value)))
            return url
        path = log_dir() / f"ours_{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"

    def ready(self, url: str, workers: Workers) -> Callable[[], bool]:
        """Whether every worker is up: listening on PostgreSQL, holding the file on SQLite."""
        if self.server:
            database = sa.make_url(url).database or ""
            conninfo = _conninfo(self.server, database)
            return lambda: idle_sessions(conninfo, database) >= len(workers.pids)
        path = str(sa.make_url(url).database)
        return lambda: all(_has_open(pid, path) for pid in workers.pids)


def _postmaster(server: PostgresServer) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])


def _conninfo(server: PostgresServer, database: str) -> str:
    return f"host={server.host} port={server.port} user={server.user} dbname={database}"


def _has_open(pid: int, path: str) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if str(fd.readlink()) == path:
                return True
        except OSError:
            continue
    return False


@contextmanager
def running(store: OurStore, config: OurConfig, name: str) -> Iterator[tuple[Runtime, Workers]]:
    """A fresh store, migrated, with `config`'s workers started, idle and listening."""
    url = store.fresh(name)
    home = log_dir() / "home"  # where the product's domains keep files: not the repository
    runtime = build_runtime(Settings(database_url=url, home=home), extra_domains=[noop_domain])
    env = clean_env(
        POLICYJOBS_DATABASE_URL=url, POLICYJOBS_PLUGINS="bench.noop_domain",
        POLICYJOBS_HOME=str(home),
        POLICYJOBS_LOG_LEVEL="warning", POLICYJOBS_BATCH_SIZE=str(config.batch_size),
    )
    argv = [PYTHON, "-m", "policyjobs", "worker", "--concurrency", str(config.concurrency)]
    workers = Workers(f"{store.dialect}-{name}", argv, env, config.workers)
    try:
        wait_until("our workers to start", store.ready(url, workers), 60, workers.check)
        time.sleep(0.3)  # past the first (empty) claim of every loop
        yield runtime, workers
    finally:
        workers.stop()
        runtime.close()


def enqueue(runtime: Runtime, count: int, tag: str, batch: int = ENQUEUE_BATCH) -> None:
    """Enqueue `count` no-op jobs tagged `tag` (their reference type), `batch` per transaction."""
    left = count
    while left > 0:
        size = min(batch, left)
        with runtime.db.begin() as conn:
            runtime.queue.enqueue(
                conn, [NewJob(kind=KIND, tenant=TENANT, reference_type=tag) for _ in range(size)]
            )
        left -= size


def wait_drained(runtime: Runtime, workers: Workers, timeout: float = RUN_TIMEOUT) -> None:
    """Poll every 20 ms until nothing is queued or leased."""
    db = reader(runtime.db)
    backend = runtime.queue.backend

    def drained() -> bool:
        with db.connect() as conn:
            return not backend.busy(conn, runtime.clock.now())

    wait_until("the queue to drain", drained, timeout, workers.check, pause=POLL_SECONDS)


def finished(runtime: Runtime, tag: str) -> int:
    """How many jobs tagged `tag` finished."""
    with reader(runtime.db).connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(jobs_table).where(
                jobs_table.c.reference_type == tag, jobs_table.c.status == "finished")
        ).scalar_one())


def start_latencies(runtime: Runtime, tag: str) -> list[float]:
    """Enqueue→start of every job tagged `tag`, in ms, from the engine's own timestamps."""
    with reader(runtime.db).connect() as conn:
        rows = conn.execute(
            sa.select(jobs_table.c.created_at, jobs_table.c.started_at)
            .where(jobs_table.c.reference_type == tag, jobs_table.c.started_at.is_not(None))
        ).all()
    return [(started - created).total_seconds() * 1000 for created, started in rows]


def first_start_ms(runtime: Runtime, tag: str) -> float:
    """From the first enqueue to the first start of a job tagged `tag`, in ms."""
    with reader(runtime.db).connect() as conn:
        first, started = conn.execute(
            sa.select(sa.func.min(jobs_table.c.created_at), sa.func.min(jobs_table.c.started_at))
            .where(jobs_table.c.reference_type == tag)
        ).one()
    if first is None or started is None:
        return float("nan")
    if isinstance(first, str):  # SQLite aggregates lose the column type
        first, started = _parse(first), _parse(started)
    return float((started - first).total_seconds() * 1000)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


Hook = Callable[[Workers], Callable[[], None]]


def throughput(store: OurStore, config: OurConfig, jobs: int, hook: Hook | None = None,
               name: str | None = None) -> RunResult:
    """Workers idle and listening; then enqueue `jobs` in batches and time until all finish.

    `hook`, if given, is called with the workers just before the first enqueue; what it
    returns is called once the queue has drained (py-spy uses it).
    """
    result = RunResult(store.system, config.as_json(), jobs, 0.0)
    try:
        with running(store, config, name or config.label) as (runtime, workers):
            stop_hook = hook(workers) if hook else None
            meter = CpuMeter(lambda: workers.pids, store.postmaster)
            start = time.perf_counter()
            enqueue(runtime, jobs, "throughput")
            result.enqueue_seconds = time.perf_counter() - start
            wait_drained(runtime, workers)
            result.seconds = time.perf_counter() - start
            result.cpu_workers_s, result.cpu_postgres_s, result.cpu_bench_s = meter.stop()
            if stop_hook:
                stop_hook()
            done = finished(runtime, "throughput")
            if done != jobs:
                raise BenchError(f"{done} of {jobs} jobs finished")
            result.latency_ms = latency_summary("backlog", start_latencies(runtime, "throughput"))
            result.latency_ms["first_start_ms"] = round(first_start_ms(runtime, "throughput"), 1)
    except BenchError as exc:
        result.error = str(exc)
        say(f"{store.system} {config.label} failed: {exc}")
    return result


def latency(store: OurStore, config: OurConfig, idle_jobs: int, paced_rate: float,
            paced_seconds: float) -> dict[str, float]:
    """Idle (one job at a time) and paced-load enqueue→start latency, in ms.

    Idle: each job is enqueued a random 5 ms to 50 ms (SQLite: to one poll interval) after
    the previous one finished. Loaded: jobs enqueued at `paced_rate` for `paced_seconds`.
    """
    idle_pause = QueueSettings().poll.total_seconds() if store.server is None else 0.05
    with running(store, config, f"latency_{config.label}") as (runtime, workers):
        locate = sa.select(jobs_table.c.status).where(jobs_table.c.locator == sa.bindparam("loc"))
        db = reader(runtime.db)
        for _ in range(idle_jobs):
            with runtime.db.begin() as conn:
                (locator,) = runtime.queue.enqueue(
                    conn, [NewJob(kind=KIND, tenant=TENANT, reference_type="idle")])

            def done(loc: str = locator) -> bool:
                with db.connect() as conn:
                    return conn.execute(locate, {"loc": loc}).scalar() == "finished"

            wait_until("an idle job to finish", done, 30, workers.check, pause=0.001)
            # Every worker back to waiting, for a random while: a fixed pause can fall into
            # step with SQLite's polling workers and make their wake-up look instant.
            time.sleep(random.uniform(0.005, idle_pause))
        summary = latency_summary("idle", start_latencies(runtime, "idle"))
        _paced(runtime, paced_rate, paced_seconds)
        wait_drained(runtime, workers)
        summary |= latency_summary("loaded", start_latencies(runtime, "paced"))
        summary["loaded_rate_per_s"] = round(paced_rate, 1)
    return summary


def _paced(runtime: Runtime, rate: float, seconds: float) -> None:
    """Enqueue at `rate` jobs/s for `seconds`, in at most 100 transactions a second."""
    batch = max(1, round(rate / 100))
    start = time.perf_counter()
    sent = 0
    while (now := time.perf_counter()) - start < seconds:
        due = start + sent / rate
        if due > now:
            time.sleep(due - now)
        enqueue(runtime, batch, "paced", batch)
        sent += batch


def sweep(store: OurStore, configs: Sequence[OurConfig], jobs: int) -> list[RunResult]:
    """One throughput run per configuration."""
    results = []
    for config in configs:
        say(f"{store.system}: {config.label}, {jobs} jobs")
        result = throughput(store, config, jobs)
        say(f"  -> {result.jobs_per_s:,.0f} jobs/s in {result.seconds:.2f}s")
        results.append(result)
    return results
