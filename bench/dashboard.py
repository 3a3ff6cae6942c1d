"""`bench/run dashboard [--rows N]`: the operators' pages over one tenant of N jobs
(1,000,000), on PostgreSQL.

The store is filled in bulk with SQL as `bench/run api` fills it, but for one tenant,
whose jobs all finished but for a few that failed (one in `--failed-every`, 100,000) and
a burst still queued, the newest `--queued` (10,000): a tenant after a year of business
and in the middle of a renewal run. `policyjobs serve --no-worker` then serves the
dashboard (no worker, so the jobs hold still), and one logged-in operator opens each page
in turn: the overview (counts, chart, latest failed and timed-out jobs), the job list
unfiltered, by each status, by kind, by a reference and 10,000 jobs deep, and a job's
page. Every page is opened in `--rounds` (5) rounds; the figure is the median round of
each, with the slowest beside it.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.api import PER_REFERENCE, fill, serve
from bench.common import BenchError, figures_of, loadavg, log_dir, machine, memory_meter, say
from policyjobs.app import build_runtime
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from policyjobs.tenants.service import create_tenant
from policyjobs.testing.postgres import free_port, start_postgres

PERMISSIONS = ["jobs.read", "jobs.list", "documents.read"]

_FAIL_AND_QUEUE = [
    """UPDATE jobs SET status = 'failed', errors = '[{"attempt": 3, "error": "bench"}]'
       WHERE id %% %(every)s = 7""",
    """UPDATE jobs SET status = 'queued', finished_at = NULL
       WHERE id > (SELECT max(id) FROM jobs) - %(queued)s""",
    """INSERT INTO job_queue (id, tenant, kind, lane, status, run_at, attempt)
       SELECT id, tenant, kind, COALESCE(lane, 1), 'queued', run_at, 0 FROM jobs
       WHERE status = 'queued'""",
]
# As migration 0015 fills it; a store from before it has no such table.
_MARKS = """
INSERT INTO job_marks (id, tenant, locator, status)
SELECT id, tenant, locator, status FROM jobs WHERE status IN ('waiting', 'failed', 'cancelled')
"""


def prepare(url: str, home: Path) -> tuple[str, str]:
    """Migrate, make the tenant and an operator's token for it."""
    runtime = build_runtime(Settings(database_url=url, home=home))
    try:
        config = runtime.tenant_configs.load("")
        with runtime.db.begin() as conn:
            tenant = create_tenant(conn, config, runtime.clock.now())
            token, _ = create_token(conn, tenants=[tenant], permissions=PERMISSIONS,
                                    known=runtime.permissions, now=runtime.clock.now())
        return tenant, token
    finally:
        runtime.close()


def shape(dsn: dict[str, Any], every: int, queued: int) -> None:
    """Fail one job in `every`, queue the newest `queued`, and mark what failed."""
    with psycopg.connect(**dsn, autocommit=True) as conn:
        for statement in _FAIL_AND_QUEUE:
            conn.execute(statement, {"every": every, "queued": queued})
        if conn.execute("SELECT to_regclass('job_marks')").fetchone() != (None,):
            conn.execute(_MARKS)
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def log_in(target: str, token: str) -> httpx.Client:
    """A client holding a dashboard session, as a browser would after the login form."""
    client = httpx.Client(base_url=target, timeout=120)
    form = client.get("/dashboard/login").text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    if found is None:
        raise BenchError("the login page has no CSRF field")
    answer = client.post("/dashboard/login", data={"token": token, "csrf": found[1]})
    if answer.status_code != 303:
        raise BenchError(f"logging in answered {answer.status_code}")
    return client


def pages(tenant: str, rows: int, job: str) -> dict[str, str]:
    """The pages an operator opens, by name."""
    jobs = f"/dashboard/jobs?tenant={tenant}"
    reference = f"R-{random.Random(7).randrange(rows // PER_REFERENCE)}"
    return {
        "overview": f"/dashboard?tenant={tenant}",
        "jobs": jobs,
        **{f"jobs status={s}": f"{jobs}&status={s}"
           for s in ("running", "finished", "failed", "queued", "waiting", "cancelled")},
        "jobs kind=documents": f"{jobs}&kind=documents",
        "jobs reference": f"{jobs}&reference={reference}",
        "jobs 10,000 deep": f"{jobs}&offset=10000",
        "a job's page": f"/dashboard/jobs/{job}?tenant={tenant}",
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fill, serve and open every page in rounds; the figures."""
    server = start_postgres(durable=True)
    memory = memory_meter(server)
    try:
        figures: dict[str, Any] = {"rows": args.rows, "failed_every": args.failed_every,
                                   "queued": args.queued, "rounds": args.rounds,
                                   "machine": machine(server)}
        url = server.create_database("dashboard")
        tenant, token = prepare(url, log_dir() / "home")
        dsn: dict[str, Any] = {"host": server.host, "port": server.port, "user": server.user,
               "dbname": "dashboard"}
        figures["fill_seconds"] = round(fill(dsn, [tenant], 0, args.rows), 1)
        shape(dsn, args.failed_every, args.queued)
        with psycopg.connect(**dsn) as conn:
            row = conn.execute("SELECT locator FROM jobs WHERE status = 'failed' "
                               "ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise BenchError("no job failed: --failed-every is larger than --rows")
        port = free_port()
        api = serve(server, "dashboard", port, processes=1)
        try:
            client = log_in(f"http://127.0.0.1:{port}", token)
            opened = pages(tenant, args.rows, row[0])
            times: dict[str, list[float]] = {name: [] for name in opened}
            for round_ in range(1, args.rounds + 1):
                for name, path in opened.items():
                    began = time.perf_counter()
                    answer = client.get(path)
                    times[name].append((time.perf_counter() - began) * 1000)
                    if answer.status_code != 200:
                        raise BenchError(f"{name} answered {answer.status_code}")
                say(f"round {round_} of {args.rounds}")
            figures |= memory.stop()  # while the API still runs
        finally:
            api.stop()
        figures["machine"]["loadavg_end"] = loadavg()
        figures["pages"] = {name: {"median_ms": round(statistics.median(ms), 1),
                                   "max_ms": round(max(ms), 1), "rounds_ms": [round(m, 1)
                                                                               for m in ms]}
                            for name, ms in times.items()}
        print_report(figures)
        return figures
    finally:
        server.stop()


def print_report(figures: dict[str, Any]) -> None:
    """The table, on stdout, before the JSON line."""
    m = figures["machine"]
    print(f"policyjobs dashboard benchmark, {m['date']} (commit {m['commit']}): {m['nproc']} "
          f"cores, {m['memory']}, {m['postgres']}, Python {m['python']}, "
          f"load {m['loadavg_start']}")
    print(f"one tenant of {figures['rows']:,} jobs: one in {figures['failed_every']:,} failed, "
          f"the newest {figures['queued']:,} queued; `serve --no-worker`, one operator; "
          f"{figures['rounds']} rounds")
    print()
    print(f"{'page':<24}{'median ms':>11}{'slowest ms':>12}")
    for name, page in figures["pages"].items():
        print(f"{name:<24}{page['median_ms']:>11.1f}{page['max_ms']:>12.1f}")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.dashboard [--rows N] [--failed-every N] [--queued N] [--rounds R]`."""
    parser = argparse.ArgumentParser(prog="bench/run dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="the tenant's jobs (1,000,000)")
    parser.add_argument("--failed-every", type=int, default=100_000,
                        help="one job in this many failed (100,000)")
    parser.add_argument("--queued", type=int, default=10_000,
                        help="the newest jobs still queued (10,000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every page (5)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the run's directory")
    args = parser.parse_args(argv)
    if args.rows < max(args.failed_every, args.queued, PER_REFERENCE):
        parser.error("--rows must be at least --failed-every and --queued")
    return figures_of(run, args)


if __name__ == "__main__":
    raise SystemExit(main())
