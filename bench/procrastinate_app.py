"""The procrastinate peer: an app with one no-op task, for `procrastinate --app … worker`.

It connects with procrastinate's psycopg connector to the DSN in BENCH_PG_DSN.
"""

from __future__ import annotations

import os

import procrastinate

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=os.environ.get("BENCH_PG_DSN", "")),
)


@app.task(name="noop", queue="bench")
async def noop() -> None:
    """Do nothing."""
