"""`bench/run api [--rows N]`: the read API over 1,000 jobs, then over N (1,000,000), on PostgreSQL.

The store is filled in bulk with SQL (documents jobs, each with its row of job data and
one ready document, across 50 tenants and many references), not through the intake.
Ten "measured" transactions of one tenant hold 60 jobs each from the start; the rest of
the rows go to other references, two jobs each, as a busy tenant's table grows.

For each size, `policyjobs serve --no-worker --processes 2` (one per core, as shipped)
is loaded by wrk on loopback:
- at a fixed rate (`--rate`, 500 requests/s, kept by a schedule in `wrk.lua` over 32
  connections), for the p50 and p99 latency of a documents job fetch and of a list page
  of 20;
- flat out (16 connections), for the throughput of the list page and of `GET /health`,
  the app's trivial endpoint (one `SELECT 1`).
Every load runs in `--rounds` interleaved rounds (3), so the machine's noise hits all
alike; the headline takes the best round's throughput and the median round's p99.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.common import (
    BenchError,
    Workers,
    clean_env,
    loadavg,
    log_dir,
    machine,
    remove_log_dir,
    say,
)
from policyjobs.app import build_runtime
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from policyjobs.tenants.service import create_tenant
from policyjobs.testing.postgres import PostgresServer, free_port, start_postgres

TENANTS = 50
MEASURED = 10  # references of the first tenant, the ones the loads read
PER_MEASURED = 60  # jobs in each: three full pages of 20
CHUNK = 100_000
LUA = Path(__file__).resolve().parent / "wrk.lua"
PAGE = 20
PACED_CONNECTIONS = 32  # enough that a slow answer does not hold the schedule back


@dataclass
class Load:
    """One wrk run: what it read, how, and what came back."""

    name: str
    rows: int
    connections: int
    rate: float | None  # the rate it was paced to, or None flat out
    result: dict[str, Any]
    round: int = 0

    @property
    def rps(self) -> float:
        """Requests per second achieved."""
        return self.result["requests"] / (self.result["duration_us"] / 1e6)

    def ms(self, percentile: int) -> float:
        """A latency percentile in milliseconds."""
        return float(self.result[f"p{percentile}_us"]) / 1000

    def as_json(self) -> dict[str, Any]:
        """The run as plain JSON values."""
        return {"name": self.name, "rows": self.rows, "round": self.round,
                "connections": self.connections,
                "paced_to": self.rate, "rps": round(self.rps, 1),
                "p50_ms": round(self.ms(50), 2), "p90_ms": round(self.ms(90), 2),
                "p99_ms": round(self.ms(99), 2), "max_ms": round(self.result["max_us"] / 1000, 2),
                "status_errors": self.result["status_errors"],
                "socket_errors": self.result["socket_errors"]}


def prepare(url: str, home: Path) -> tuple[list[str], str]:
    """Migrate, make the tenants and one token that reads them all."""
    runtime = build_runtime(Settings(database_url=url, home=home))  # type: ignore[arg-type]
    try:
        config = runtime.tenant_configs.load("")
        with runtime.db.begin() as conn:
            tenants = [create_tenant(conn, config, runtime.clock.now()) for _ in range(TENANTS)]
            token, _ = create_token(conn, tenants=["any"], permissions=["documents.read"],
                                    known=runtime.permissions,
                                    now=runtime.clock.now())
        return tenants, token
    finally:
        runtime.close()


_FILL = """
WITH rows AS (
    SELECT n,
           CASE WHEN n < %(measured)s THEN %(first)s
                ELSE (%(tenants)s::text[])[1 + n %% cardinality(%(tenants)s::text[])] END
               AS tenant,
           CASE WHEN n < %(measured)s THEN 'H-' || (n / %(per)s)
                ELSE 'R-' || (n / 2) END AS reference,
           lpad(n::text, 25, '0') AS serial
    FROM generate_series(%(start)s, %(stop)s - 1) AS n
), jobs_made AS (
    INSERT INTO jobs (locator, tenant, kind, reference_type, reference_locator, status, run_at,
                      attempt, max_attempts, payload, result, errors, created_by, created_at,
                      started_at, finished_at, updated_at)
    SELECT 'J' || serial, tenant, 'documents', 'transaction', reference, 'finished', now(),
           1, 3, '{"context": {}}', '{"rendered": 1}', '[]', %(nil)s, now(), now(), now(), now()
    FROM rows
), data_made AS (
    INSERT INTO documents_jobs (job_locator, tenant, trigger, timeout_seconds)
    SELECT 'J' || serial, tenant, 'issued', 120 FROM rows
)
INSERT INTO documents (locator, tenant, job_locator, reference_type, reference_locator,
                       static_name, name, scope, format, template, state, storage_key,
                       content_type, created_at, created_by, ready_at, transaction_locator)
SELECT 'D' || serial, tenant, 'J' || serial, 'transaction', reference, 'declarations',
       'Declarations', 'transaction', 'pdf', '<h1>{{ reference.locator }}</h1>', 'ready',
       tenant || '/D' || serial || '.pdf', 'application/pdf', now(), %(nil)s, now(), reference
FROM rows
"""


def fill(dsn: dict[str, Any], tenants: list[str], start: int, stop: int) -> float:
    """Add jobs `start` up to `stop`, in chunks; the seconds it took."""
    began = time.perf_counter()
    with psycopg.connect(**dsn, autocommit=True) as conn:
        for low in range(start, stop, CHUNK):
            high = min(low + CHUNK, stop)
            conn.execute(_FILL, {  # type: ignore[arg-type]
                "start": low, "stop": high, "measured": MEASURED * PER_MEASURED,
                "per": PER_MEASURED, "first": tenants[0], "tenants": tenants,
                "nil": "00000000-0000-0000-0000-000000000000"})
            say(f"filled {high:,} of {stop:,} jobs ({time.perf_counter() - began:.0f} s)")
        conn.execute("VACUUM ANALYZE jobs, documents_jobs, documents")
        conn.execute("CHECKPOINT")  # so the fill's dirty pages are not written during a load
    return time.perf_counter() - began


def paths(tenant: str) -> dict[str, list[str]]:
    """The URLs each load walks through."""
    base = f"/document/{tenant}/documents/transaction"
    jobs = [(k, f"J{n:025d}") for k in range(MEASURED)
            for n in range(k * PER_MEASURED, (k + 1) * PER_MEASURED)]
    return {
        "fetch": [f"{base}/H-{k}/jobs/{job}" for k, job in jobs],
        "list": [f"{base}/H-{k}/jobs/list?count={PAGE}&offset={offset}"
                 for k in range(MEASURED) for offset in range(0, PER_MEASURED, PAGE)],
        "trivial": ["/health"],
    }


def wrk(url: str, token: str, name: str, rows: int, urls: list[str], *, connections: int,
        seconds: float, rate: float | None = None, round_: int = 0) -> Load:
    """One wrk run against `url`."""
    listing = log_dir() / f"{name.replace('/', '-').replace(' ', '-')}.paths"
    listing.write_text("\n".join(urls) + "\n")
    env = {**os.environ, "BENCH_PATHS": str(listing), "BENCH_TOKEN": token}
    if rate:
        env["BENCH_RATE"] = str(rate)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "5s",
            "-s", str(LUA), url]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    last = done.stdout.strip().splitlines()[-1:] or [""]
    try:
        result = json.loads(last[0])
    except json.JSONDecodeError:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}") from None
    load = Load(name, rows, connections, rate, result, round_)
    if result["status_errors"] or result["socket_errors"]:
        raise BenchError(f"{name}: {result['status_errors']} error answers and "
                         f"{result['socket_errors']} socket errors: {result}")
    say(f"{name} at {rows:,} rows: {load.rps:,.0f} requests/s, "
        f"p50 {load.ms(50):.2f} ms, p99 {load.ms(99):.2f} ms")
    return load


def serve(server: PostgresServer, database: str, port: int, processes: int) -> Workers:
    """`policyjobs serve --no-worker --processes N`, as shipped, on `port`."""
    env = clean_env(POLICYJOBS_DATABASE_URL=server.url(database),
                    POLICYJOBS_HOME=str(log_dir() / "home"), POLICYJOBS_LOG_LEVEL="warning")
    api = Workers("api", [sys.executable, "-m", "policyjobs", "serve", "--no-worker",
                          "--port", str(port), "--processes", str(processes)], env, 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        api.check()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return api
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    api.stop()
    raise BenchError("the API did not start within 60 s")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fill, load and measure at each size; the figures."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (bench/run installs it with apt-get)")
    sizes = sorted({MEASURED * PER_MEASURED + 400, args.rows})
    server = start_postgres(durable=True)
    try:
        figures: dict[str, Any] = {"rows": sizes, "rate": args.rate,
                                   "processes": args.processes, "machine": machine(server)}
        url = server.create_database("api")
        tenants, token = prepare(url, log_dir() / "home")
        dsn = {"host": server.host, "port": server.port, "user": server.user, "dbname": "api"}
        walks = paths(tenants[0])
        loads: list[Load] = []
        filled = 0
        port = free_port()
        for rows in sizes:
            figures[f"fill_seconds_{rows}"] = round(fill(dsn, tenants, filled, rows), 1)
            filled = rows
            api = serve(server, "api", port, args.processes)
            try:
                target = f"http://127.0.0.1:{port}"
                # Warm up every process's pool and code paths at the load's concurrency.
                wrk(target, token, "warm-up", rows,
                    walks["fetch"] + walks["list"] + walks["trivial"],
                    connections=PACED_CONNECTIONS, seconds=5)
                for round_ in range(1, args.rounds + 1):  # rounds, so noise hits all alike
                    for name in ("list", "fetch", "trivial"):
                        loads.append(wrk(target, token, f"{name} flat out", rows, walks[name],
                                         connections=16, seconds=args.seconds, round_=round_))
                    for name in ("fetch", "list"):
                        loads.append(wrk(target, token, f"{name}@{args.rate:g}/s", rows,
                                         walks[name], connections=PACED_CONNECTIONS,
                                         seconds=args.seconds, rate=args.rate, round_=round_))
            finally:
                api.stop()
        figures["machine"]["loadavg_end"] = loadavg()
        figures |= headline(loads, sizes, args.rate)
        figures["loads"] = [load.as_json() for load in loads]
        print_report(figures, loads)
        return figures
    finally:
        server.stop()


def headline(loads: list[Load], sizes: list[int], rate: float) -> dict[str, Any]:
    """The keys a script compares across runs: of each load's rounds, the best throughput
    flat out, and the median round at the fixed rate (by p99)."""
    small, large = sizes[0], sizes[-1]

    def best(name: str, rows: int) -> Load:
        return max((load for load in loads if load.name == name and load.rows == rows),
                   key=lambda load: load.rps)

    def median(name: str, rows: int) -> Load:
        found = sorted((load for load in loads if load.name == name and load.rows == rows),
                       key=lambda load: load.ms(99))
        return found[(len(found) - 1) // 2]

    out: dict[str, Any] = {}
    for name in ("fetch", "list"):
        for rows, label in ((small, "1k"), (large, "1m")):
            load = median(f"{name}@{rate:g}/s", rows)
            out[f"{name}_p50_ms_{label}"] = round(load.ms(50), 2)
            out[f"{name}_p99_ms_{label}"] = round(load.ms(99), 2)
            out[f"{name}_paced_rps_{label}"] = round(load.rps, 1)
    out["list_rps"] = round(best("list flat out", large).rps, 1)
    out["fetch_rps"] = round(best("fetch flat out", large).rps, 1)
    out["trivial_rps"] = round(best("trivial flat out", large).rps, 1)
    out["list_rps_1k"] = round(best("list flat out", small).rps, 1)
    out["fetch_rps_1k"] = round(best("fetch flat out", small).rps, 1)
    out["trivial_rps_1k"] = round(best("trivial flat out", small).rps, 1)
    out["list_vs_trivial"] = round(out["list_rps"] / out["trivial_rps"], 2)
    for name in ("fetch", "list"):
        out[f"{name}_p99_1m_vs_1k"] = round(out[f"{name}_p99_ms_1m"] / out[f"{name}_p99_ms_1k"],
                                            2)
    return out


def print_report(figures: dict[str, Any], loads: list[Load]) -> None:
    """The table, on stdout, before the JSON line."""
    m = figures["machine"]
    print(f"policyjobs API benchmark, {m['date']} (commit {m['commit']}): {m['nproc']} cores, "
          f"{m['memory']}, {m['postgres']}, Python {m['python']}, load {m['loadavg_start']}")
    print(f"rows {', '.join(f'{r:,}' for r in figures['rows'])}; "
          f"{figures['processes']} server processes; paced runs at "
          f"{figures['rate']:g} requests/s over {PACED_CONNECTIONS} connections, flat out over 16")
    print()
    print(f"{'load':<20}{'rows':>11}{'round':>6}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}"
          f"{'p99 ms':>9}")
    for load in loads:
        print(f"{load.name:<20}{load.rows:>11,}{load.round:>6}{load.rps:>10,.0f}"
              f"{load.ms(50):>9.2f}{load.ms(90):>9.2f}{load.ms(99):>9.2f}")
    print()
    print("of each load's rounds: the best throughput flat out, the median p99 when paced")
    print(f"fetch p99: {figures['fetch_p99_ms_1k']} ms at 1k rows, {figures['fetch_p99_ms_1m']}"
          f" ms at the largest ({figures['fetch_p99_1m_vs_1k']}x; target <= 1.5x, < 25 ms)")
    print(f"list p99: {figures['list_p99_ms_1k']} ms at 1k rows, {figures['list_p99_ms_1m']}"
          f" ms at the largest ({figures['list_p99_1m_vs_1k']}x; target <= 1.5x, < 25 ms)")
    print(f"list page of {PAGE}: {figures['list_rps']:,.0f} req/s against "
          f"{figures['trivial_rps']:,.0f} for /health ({figures['list_vs_trivial']:.0%}; "
          "target >= 50%)")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.api [--rows N] [--rate R] [--seconds S]`."""
    parser = argparse.ArgumentParser(prog="bench/run api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="jobs in the large store (default 1,000,000)")
    parser.add_argument("--rate", type=float, default=500, help="paced requests/s (500)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds per load (10)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every load at each size (3)")
    parser.add_argument("--processes", type=int, default=2,
                        help="API server processes, `serve --processes` (2, one per core)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the run's directory")
    args = parser.parse_args(argv)
    if args.rows < MEASURED * PER_MEASURED + 400:
        parser.error(f"--rows must be at least {MEASURED * PER_MEASURED + 400}")
    try:
        figures = run(args)
    except BenchError as exc:
        say(f"failed: {exc}; logs in {log_dir()}")
        return 1
    finally:
        if not args.keep_logs:
            remove_log_dir()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
