"""Our engine: enqueue through the public API, drain with `policyjobs worker` processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlalchemy as sa
from psycopg import sql as psql

from bench.common import PYTHON, Workers, clean_env, idle_sessions, log_dir, postmaster
from bench.measure import Session, stamps_folder
from bench.noop_domain import KIND, STAMP
from bench.noop_domain import domain as noop_domain
from bench.stamps import VARIABLE as STAMPS_VARIABLE
from policyjobs.app import build_runtime
from policyjobs.engine import NewJob
from policyjobs.engine.schema import jobs as jobs_table
from policyjobs.settings import Settings
from policyjobs.store.database import reader
from policyjobs.testing.postgres import PostgresServer
from policyjobs.testing.waiting import wait_until

TENANT = "bench"


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
        self.postmaster = postmaster(server) if server else None
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
def session(store: OurStore, config: OurConfig, name: str) -> Iterator[Session]:
    """A fresh store, migrated, with `config`'s workers started, idle and listening, and
    the benchmark's own runtime connected to enqueue through `JobQueue.enqueue`."""
    url = store.fresh(name)
    home = log_dir() / "home"  # where the product's domains keep files: not the repository
    runtime = build_runtime(Settings(database_url=url, home=home), extra_domains=[noop_domain])
    folder = stamps_folder(log_dir(), f"{store.dialect}-{name}")
    env = clean_env(
        POLICYJOBS_DATABASE_URL=url, POLICYJOBS_PLUGINS="bench.noop_domain",
        POLICYJOBS_HOME=str(home), POLICYJOBS_LOG_LEVEL="warning",
        POLICYJOBS_BATCH_SIZE=str(config.batch_size), **{STAMPS_VARIABLE: str(folder)},
    )
    argv = [PYTHON, "-m", "policyjobs", "worker", "--concurrency", str(config.concurrency)]
    workers = Workers(f"{store.dialect}-{name}", argv, env, config.workers)
    db = reader(runtime.db)
    count = sa.select(sa.func.count()).select_from(jobs_table).where(
        jobs_table.c.kind == KIND, jobs_table.c.status == "finished")

    def enqueue(size: int, stamped: bool) -> None:
        if stamped:
            made = [NewJob(kind=STAMP, tenant=TENANT, payload={"sent": time.time()})
                    for _ in range(size)]
        else:
            made = [NewJob(kind=KIND, tenant=TENANT) for _ in range(size)]
        with runtime.db.begin() as conn:
            runtime.queue.enqueue(conn, made)

    def unfinished() -> bool:
        with db.connect() as conn:
            return runtime.queue.backend.busy(conn, runtime.clock.now())

    def succeeded() -> int:
        with db.connect() as conn:
            return int(conn.execute(count).scalar_one())

    try:
        wait_until(store.ready(url, workers), timeout=60, what="our workers to start",
                   check=workers.check)
        time.sleep(0.3)  # past the first (empty) claim of every loop
        with runtime.db.connect() as conn:  # the enqueuer's connection, open before the clock
            conn.execute(sa.text("SELECT 1"))
        yield Session(store.system, config.as_json(), enqueue, unfinished, succeeded, workers,
                      store.postmaster, folder)
    finally:
        workers.stop()
        runtime.close()
