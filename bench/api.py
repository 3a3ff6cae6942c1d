"""`bench/run api [--rows N]`: the read API over 1,000 jobs, then over N (1,000,000), on PostgreSQL.

The store is filled in bulk with SQL (documents jobs, each with its row of job data and
one ready document), not through the intake: 50 tenants, references of 20 jobs each
(one full list page), the references dealt to the tenants in turn.

For each size, `policyjobs serve --no-worker --processes 2` (one per core) is loaded by wrk
on loopback, every request for a random job or reference anywhere in the table:
- at a fixed rate (`--rate`, 1,000 requests/s, kept by a schedule in `wrk.lua` over 32
  connections), for the p50 and p99 latency of a documents job fetch and of a list page
  of 20; the rate achieved is checked against the one asked;
- flat out (16 connections), for the throughput of the list page against a route with
  the same token guard and path that runs one `SELECT 1` through the same read path
  (`bench/select1_domain.py`, loaded as a plugin): the cost of this product's route code;
  and against `GET /health/live`, which touches no database: the HTTP stack alone.
Every load runs in `--rounds` interleaved rounds (3), so the machine's noise hits all
alike; the headline takes the median round. At the largest size the default
`policyjobs serve` (one process, with its workers) is loaded the same way, once, beside
the tuned one.
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
    figures_of,
    loadavg,
    log_dir,
    machine,
    memory_meter,
    say,
)
from policyjobs.app import build_runtime
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from policyjobs.tenants.service import create_tenant
from policyjobs.testing.postgres import PostgresServer, free_port, start_postgres

TENANTS = 50
PER_REFERENCE = 20  # jobs of each reference: one full list page
SMALL = 1_000
CHUNK = 100_000
PACED_SHORTFALL = 0.95  # a paced load that achieves less than this share of its rate fails
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
    server: str = "tuned"  # or "default": `policyjobs serve` as installed

    @property
    def rps(self) -> float:
        """Requests per second achieved."""
        return float(self.result["requests"]) / (float(self.result["duration_us"]) / 1e6)

    @property
    def kept_rate(self) -> bool:
        """Whether a paced load achieved the rate it asked for (a flat-out one always does)."""
        return self.rate is None or self.rps >= PACED_SHORTFALL * self.rate

    def ms(self, percentile: int) -> float:
        """A latency percentile in milliseconds."""
        return float(self.result[f"p{percentile}_us"]) / 1000

    def as_json(self) -> dict[str, Any]:
        """The run as plain JSON values."""
        return {"name": self.name, "server": self.server, "rows": self.rows,
                "round": self.round, "connections": self.connections,
                "kept_rate": self.kept_rate,
                "paced_to": self.rate, "rps": round(self.rps, 1),
                "p50_ms": round(self.ms(50), 2), "p90_ms": round(self.ms(90), 2),
                "p99_ms": round(self.ms(99), 2), "max_ms": round(self.result["max_us"] / 1000, 2),
                "status_errors": self.result["status_errors"],
                "socket_errors": self.result["socket_errors"]}


def prepare(url: str, home: Path) -> tuple[list[str], str]:
    """Migrate, make the tenants and one token that reads them all."""
    runtime = build_runtime(Settings(database_url=url, home=home))
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
    SELECT n, (%(tenants)s::text[])[1 + (n / %(per)s) %% cardinality(%(tenants)s::text[])]
               AS tenant,
           'R-' || (n / %(per)s) AS reference, lpad(n::text, 25, '0') AS serial
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
            conn.execute(_FILL, {
                "start": low, "stop": high, "per": PER_REFERENCE, "tenants": tenants,
                "nil": "00000000-0000-0000-0000-000000000000"})
            say(f"filled {high:,} of {stop:,} jobs ({time.perf_counter() - began:.0f} s)")
        conn.execute("VACUUM ANALYZE jobs, documents_jobs, documents")
        conn.execute("CHECKPOINT")  # so the fill's dirty pages are not written during a load
    return time.perf_counter() - began


def wrk(url: str, token: str, name: str, rows: int, tenants: list[str], *, connections: int,
        seconds: float, rate: float | None = None, round_: int = 0, server: str = "tuned") -> Load:
    """One wrk run against `url`: `name` is the load (fetch, list or trivial)."""
    tenant_list = log_dir() / "tenants"
    tenant_list.write_text("\n".join(tenants) + "\n")
    env = {**os.environ, "BENCH_TENANTS": str(tenant_list), "BENCH_TOKEN": token,
           "BENCH_ROWS": str(rows), "BENCH_PER": str(PER_REFERENCE),
           "BENCH_LOAD": name.split()[0].split("@")[0]}
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
    load = Load(name, rows, connections, rate, result, round_, server)
    if result["status_errors"] or result["socket_errors"]:
        raise BenchError(f"{name}: {result['status_errors']} error answers and "
                         f"{result['socket_errors']} socket errors: {result}")
    say(f"{server} {name} at {rows:,} rows: {load.rps:,.0f} requests/s, "
        f"p50 {load.ms(50):.2f} ms, p99 {load.ms(99):.2f} ms"
        + ("" if load.kept_rate else "  (BELOW THE ASKED RATE)"))
    return load


def serve(server: PostgresServer, database: str, port: int, processes: int | None) -> Workers:
    """`policyjobs serve --no-worker --processes N` on `port`, or with `processes` None the
    default `policyjobs serve` (one process, with its workers)."""
    env = clean_env(POLICYJOBS_DATABASE_URL=server.url(database),
                    POLICYJOBS_HOME=str(log_dir() / "home"), POLICYJOBS_LOG_LEVEL="warning",
                    POLICYJOBS_PLUGINS="bench.select1_domain")
    argv = [sys.executable, "-m", "policyjobs", "serve", "--port", str(port)]
    if processes is not None:
        argv += ["--no-worker", "--processes", str(processes)]
    api = Workers("api", argv, env, 1)
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


def loads_of(target: str, token: str, rows: int, tenants: list[str], args: argparse.Namespace,
             round_: int, server: str) -> list[Load]:
    """One round of every load against `target`."""
    found = []
    for name in ("list", "select1", "trivial"):
        found.append(wrk(target, token, f"{name} flat out", rows, tenants, connections=16,
                         seconds=args.seconds, round_=round_, server=server))
    for name in ("fetch", "list"):
        found.append(wrk(target, token, f"{name}@{args.rate:g}/s", rows, tenants,
                         connections=PACED_CONNECTIONS, seconds=args.seconds, rate=args.rate,
                         round_=round_, server=server))
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fill, load and measure at each size; the figures."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (bench/run installs it with apt-get)")
    sizes = sorted({SMALL, args.rows})
    server = start_postgres(durable=True)
    memory = memory_meter(server)
    try:
        figures: dict[str, Any] = {"rows": sizes, "rate": args.rate,
                                   "processes": args.processes, "machine": machine(server)}
        url = server.create_database("api")
        tenants, token = prepare(url, log_dir() / "home")
        dsn = {"host": server.host, "port": server.port, "user": server.user, "dbname": "api"}
        loads: list[Load] = []
        filled = 0
        port = free_port()
        target = f"http://127.0.0.1:{port}"
        for rows in sizes:
            figures[f"fill_seconds_{rows}"] = round(fill(dsn, tenants, filled, rows), 1)
            filled = rows
            variants: list[tuple[str, int | None, int]] = [("tuned", args.processes,
                                                            args.rounds)]
            if rows == sizes[-1]:
                variants.append(("default", None, 1))
            for label, processes, rounds in variants:
                api = serve(server, "api", port, processes)
                try:
                    # Warm up every process's pool and code paths at the load's concurrency.
                    for name in ("fetch", "list"):
                        wrk(target, token, f"{name} warm-up", rows, tenants,
                            connections=PACED_CONNECTIONS, seconds=3, server=label)
                    for round_ in range(1, rounds + 1):  # rounds, so noise hits all alike
                        loads.extend(loads_of(target, token, rows, tenants, args, round_,
                                              label))
                finally:
                    api.stop()
        figures["machine"]["loadavg_end"] = loadavg()
        figures |= memory.stop()
        figures |= headline(loads, sizes, args.rate)
        figures["loads"] = [load.as_json() for load in loads]
        print_report(figures, loads)
        return figures
    finally:
        server.stop()


def headline(loads: list[Load], sizes: list[int], rate: float) -> dict[str, Any]:
    """The keys a script compares across runs: the median round of each load (by p99 when
    paced, by throughput flat out), of the tuned server unless named `default_`."""
    small, large = sizes[0], sizes[-1]

    def median(name: str, rows: int, server: str = "tuned", flat: bool = False) -> Load:
        found = sorted((load for load in loads if load.name == name and load.rows == rows
                        and load.server == server),
                       key=lambda load: load.rps if flat else load.ms(99))
        return found[(len(found) - 1) // 2]

    out: dict[str, Any] = {}
    paced = [load for load in loads if load.rate is not None]
    out["paced_rate_kept"] = all(load.kept_rate for load in paced)
    out["paced_rps_lowest"] = round(min(load.rps for load in paced), 1) if paced else None
    for prefix, server, rows_of in (("", "tuned", ((small, "1k"), (large, "1m"))),
                                    ("default_", "default", ((large, "1m"),))):
        for name in ("fetch", "list"):
            for rows, label in rows_of:
                load = median(f"{name}@{rate:g}/s", rows, server)
                out[f"{prefix}{name}_p50_ms_{label}"] = round(load.ms(50), 2)
                out[f"{prefix}{name}_p99_ms_{label}"] = round(load.ms(99), 2)
                out[f"{prefix}{name}_paced_rps_{label}"] = round(load.rps, 1)
        for name in ("list", "select1", "trivial"):
            out[f"{prefix}{name}_rps"] = round(median(f"{name} flat out", large, server,
                                                      flat=True).rps, 1)
        for base in ("select1", "trivial"):
            out[f"{prefix}list_vs_{base}"] = round(out[f"{prefix}list_rps"]
                                                   / out[f"{prefix}{base}_rps"], 2)
    for name in ("list", "select1", "trivial"):
        out[f"{name}_rps_1k"] = round(median(f"{name} flat out", small, flat=True).rps, 1)
    for name in ("fetch", "list"):
        out[f"{name}_p99_1m_vs_1k"] = round(out[f"{name}_p99_ms_1m"] / out[f"{name}_p99_ms_1k"],
                                            2)
    return out


def print_report(figures: dict[str, Any], loads: list[Load]) -> None:
    """The table, on stdout, before the JSON line."""
    m = figures["machine"]
    print(f"policyjobs API benchmark, {m['date']} (commit {m['commit']}): {m['nproc']} cores, "
          f"{m['memory']}, {m['postgres']}, Python {m['python']}, load {m['loadavg_start']}")
    print(f"rows {', '.join(f'{r:,}' for r in figures['rows'])}; tuned server: "
          f"{figures['processes']} processes, --no-worker; default server: `policyjobs serve`; "
          f"paced runs at {figures['rate']:g} requests/s over {PACED_CONNECTIONS} connections, "
          "flat out over 16; every request for a random job or reference of the whole table")
    print()
    print(f"{'server':<8}{'load':<20}{'rows':>11}{'round':>6}{'req/s':>10}{'p50 ms':>9}"
          f"{'p90 ms':>9}{'p99 ms':>9}")
    for load in loads:
        print(f"{load.server:<8}{load.name:<20}{load.rows:>11,}{load.round:>6}{load.rps:>10,.0f}"
              f"{load.ms(50):>9.2f}{load.ms(90):>9.2f}{load.ms(99):>9.2f}"
              + ("" if load.kept_rate else "  below the asked rate"))
    print()
    f = figures
    print("the median round of each load, tuned server unless said")
    print(f"paced loads kept their rate: {f['paced_rate_kept']} (lowest {f['paced_rps_lowest']:,}"
          f" requests/s for {f['rate']:g} asked)")
    for name in ("fetch", "list"):
        print(f"{name} p99: {f[f'{name}_p99_ms_1k']} ms at 1k rows, {f[f'{name}_p99_ms_1m']} ms "
              f"at the largest ({f[f'{name}_p99_1m_vs_1k']}x; target <= 1.5x, < 25 ms); "
              f"default serve {f[f'default_{name}_p99_ms_1m']} ms")
    print(f"list page of {PAGE}: {f['list_rps']:,.0f} req/s against {f['select1_rps']:,.0f} for "
          f"the same guard and one SELECT 1 ({f['list_vs_select1']:.0%}; target >= 50%) and "
          f"{f['trivial_rps']:,.0f} for /health/live, no database ({f['list_vs_trivial']:.0%});"
          f" default serve {f['default_list_rps']:,.0f} against "
          f"{f['default_select1_rps']:,.0f} and {f['default_trivial_rps']:,.0f}")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.api [--rows N] [--rate R] [--seconds S]`."""
    parser = argparse.ArgumentParser(prog="bench/run api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="jobs in the large store (default 1,000,000)")
    parser.add_argument("--rate", type=float, default=1000, help="paced requests/s (1,000)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds per load (10)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every load at each size (3)")
    parser.add_argument("--processes", type=int, default=2,
                        help="API server processes, `serve --processes` (2, one per core)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the run's directory")
    args = parser.parse_args(argv)
    if args.rows < SMALL:
        parser.error(f"--rows must be at least {SMALL:,}")
    return figures_of(run, args)


if __name__ == "__main__":
    raise SystemExit(main())
