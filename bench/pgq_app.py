"""The PgQueuer peer's worker process: `python -m bench.pgq_app --batch-size B`.

It runs `pgqueuer.run` (what `pgq run` runs, without its CLI, whose `--log-level`
parsing fails under the installed typer) on a factory that connects with asyncpg,
PgQueuer's fastest driver, to the DSN in BENCH_PG_DSN, and registers two async
entrypoints: `noop`, which does nothing, and `stamp`, which first writes how long ago the
benchmark called enqueue (the job's payload, a wall time) for the latency runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager, suppress

import asyncpg
import pgqueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries

from bench.stamps import stamp

ENTRYPOINT = "noop"
STAMP = "stamp"


@asynccontextmanager
async def create() -> AsyncGenerator[QueueManager, None]:
    """A QueueManager with the two entrypoints, on one asyncpg connection."""
    connection = await asyncpg.connect(dsn=os.environ["BENCH_PG_DSN"])
    manager = QueueManager(Queries(AsyncpgDriver(connection)))

    @manager.entrypoint(ENTRYPOINT)
    async def noop(job: Job) -> None:
        del job

    @manager.entrypoint(STAMP)
    async def stamped(job: Job) -> None:
        stamp(float(job.payload or b"0"))

    try:
        yield manager
    finally:
        await connection.close()


def main() -> None:
    """Run one PgQueuer worker until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.pgq_app")
    parser.add_argument("--batch-size", type=int, default=10, help="PgQueuer's dequeue batch")
    args = parser.parse_args()
    with suppress(KeyboardInterrupt):
        asyncio.run(pgqueuer.run(create, batch_size=args.batch_size))


if __name__ == "__main__":
    main()
