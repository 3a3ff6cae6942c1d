"""A diagnostic of the batch enqueue: where the time of one `JobQueue.enqueue` goes.

`python -m bench.enqueue [--jobs N] [--rounds R]` makes a fresh store on each side
(PostgreSQL with durable settings, and SQLite), builds N no-op `NewJob`s and enqueues them
in one call in one transaction, R rounds, the stores alternating. For each it prints the
seconds spent making the jobs, in `enqueue` and in the commit, the CPU seconds of this
process and of the PostgreSQL backend over the enqueue, and the rate from the first job
made to the commit. No worker runs: `bench/run engine` measures the same enqueue, beside
running workers, as its drains' `enqueue_jobs_per_s`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.common import cpu_seconds, log_dir, remove_log_dir, say
from bench.noop_domain import KIND
from bench.noop_domain import domain as noop_domain
from policyjobs.app import build_runtime
from policyjobs.engine import NewJob
from policyjobs.settings import Settings
from policyjobs.testing.postgres import start_postgres

TENANT = "bench-enqueue"


def enqueue_once(url: str, jobs: int) -> dict[str, float]:
    """Make `jobs` jobs and enqueue them in one call, in a fresh store at `url`."""
    runtime = build_runtime(Settings(database_url=url, home=Path(tempfile.mkdtemp())),
                            extra_domains=[noop_domain])
    try:
        with runtime.db.begin() as conn:
            backend = (conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                       if url.startswith("postgresql") else None)
            start, own = time.perf_counter(), time.process_time()
            server = cpu_seconds([backend]) if backend else 0.0
            made = [NewJob(kind=KIND, tenant=TENANT) for _ in range(jobs)]
            built = time.perf_counter()
            runtime.queue.enqueue(conn, made)
            enqueued = time.perf_counter()
            server = cpu_seconds([backend]) - server if backend else 0.0
            own = time.process_time() - own
        committed = time.perf_counter()
    finally:
        runtime.close()
    return {"make_s": built - start, "enqueue_s": enqueued - built,
            "commit_s": committed - enqueued, "client_cpu_s": own, "server_cpu_s": server,
            "jobs_per_s": jobs / (committed - start)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = start_postgres(durable=True)
    rates: dict[str, list[float]] = {"postgresql": [], "sqlite": []}
    try:
        for round_ in range(1, args.rounds + 1):
            for store in ("postgresql", "sqlite") if round_ % 2 else ("sqlite", "postgresql"):
                url = (server.create_database(f"enqueue_{round_}") if store == "postgresql"
                       else f"sqlite:///{log_dir()}/enqueue_{round_}.db")
                found = enqueue_once(url, args.jobs)
                rates[store].append(found["jobs_per_s"])
                say(f"round {round_} {store}: " + ", ".join(
                    f"{key} {value:,.3f}" if key != "jobs_per_s" else f"{value:,.0f} jobs/s"
                    for key, value in found.items()))
    finally:
        server.stop()
        remove_log_dir()
    for store, each in rates.items():
        print(f"{store}: median {statistics.median(each):,.0f} jobs/s over {len(each)} rounds "
              f"({', '.join(f'{r:,.0f}' for r in each)})")


if __name__ == "__main__":
    main()
