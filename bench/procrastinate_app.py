"""The procrastinate peer: an app with one no-op task, for `procrastinate --app … worker`.

It connects with procrastinate's psycopg connector to the DSN in BENCH_PG_DSN, with a
connection pool as large as the worker's concurrency (BENCH_POOL), so that concurrency
is not capped by the pool's default four connections.
"""

from __future__ import annotations

import os

import procrastinate

_POOL = int(os.environ.get("BENCH_POOL", "4"))

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=os.environ.get("BENCH_PG_DSN", ""), min_size=min(_POOL, 4), max_size=_POOL),
)


@app.task(name="noop", queue="bench")
async def noop() -> None:
    """Do nothing."""
