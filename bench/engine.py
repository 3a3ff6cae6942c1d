"""`bench/run engine`: end-to-end throughput and latency of no-op jobs, ours against the peers.

Ours runs on PostgreSQL and SQLite with `policyjobs worker` processes at default settings
but for the knobs swept (processes, `--concurrency`, POLICYJOBS_BATCH_SIZE); PgQueuer and
procrastinate run on the same PostgreSQL server with the same job count. Each system runs
in a few configurations and its best one counts. The last line of stdout is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ours, peers
from bench.common import RunResult, loadavg, log_dir, machine, remove_log_dir, say
from bench.ours import OurConfig, OurStore
from bench.peers import PeerConfig
from bench.profile import start_py_spy, summarise
from bench.report import print_report
from policyjobs.testing.postgres import start_postgres


@dataclass(frozen=True)
class Plan:
    """What to run: job count, configurations, latency sample sizes."""

    jobs: int
    pg: list[OurConfig]
    sqlite: list[OurConfig]
    pgqueuer: list[PeerConfig]
    procrastinate: list[PeerConfig]
    idle_jobs: int
    sqlite_idle_jobs: int
    paced_seconds: float


def make_plan(args: argparse.Namespace) -> Plan:
    """The configurations for the command line's options."""
    workers = [int(w) for w in args.workers.split(",")] if args.workers else None
    if args.quick:
        counts = workers or [2]
        knobs = [(8, 100), (32, 1000)]
        return Plan(
            jobs=args.jobs or 2000,
            pg=[OurConfig(w, c, b) for w in counts for c, b in knobs],
            sqlite=[OurConfig(w, c, b) for w in counts for c, b in knobs],
            pgqueuer=[PeerConfig(w, batch_size=100) for w in counts],
            procrastinate=[PeerConfig(w, concurrency=50) for w in counts],
            idle_jobs=args.idle_jobs or 30, sqlite_idle_jobs=10, paced_seconds=2.0,
        )
    knobs = [(8, 100), (8, 500), (32, 1000)]  # (8, 100) is the product's default
    if workers:
        pgqueuer = [PeerConfig(w, batch_size=b) for w in workers for b in (10, 100, 500)]
        procrastinate = [PeerConfig(w, concurrency=c) for w in workers for c in (10, 50)]
    else:  # the best of a wider exploration, and PgQueuer's default (batch 10)
        pgqueuer = [PeerConfig(w, batch_size=b) for w in (1, 2, 4) for b in (100, 500)]
        pgqueuer.insert(0, PeerConfig(4, batch_size=10))
        procrastinate = [PeerConfig(1, concurrency=50), PeerConfig(4, concurrency=10),
                         PeerConfig(4, concurrency=50)]
    return Plan(
        jobs=args.jobs or 20_000,
        pg=[OurConfig(w, c, b) for w in (workers or [1, 2, 4]) for c, b in knobs],
        sqlite=[OurConfig(w, c, b) for w in (workers or [1, 2]) for c, b in knobs],
        pgqueuer=pgqueuer, procrastinate=procrastinate,
        idle_jobs=args.idle_jobs or 200, sqlite_idle_jobs=40, paced_seconds=5.0,
    )


def best(results: list[RunResult]) -> RunResult | None:
    """The fastest run that did not fail."""
    ok = [r for r in results if not r.error]
    return max(ok, key=lambda r: r.jobs_per_s) if ok else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every run of the plan; the figures."""
    plan = make_plan(args)
    only = set(args.only.split(",")) if args.only else {"pg", "sqlite", "pgqueuer",
                                                         "procrastinate"}
    server = start_postgres(durable=True)
    try:
        figures: dict[str, Any] = {"jobs": plan.jobs, "machine": machine(server)}
        say(f"PostgreSQL {figures['machine']['postgres']}; logs in {log_dir()}")
        pg_store, sqlite_store = OurStore("postgresql", server), OurStore("sqlite")
        sweeps: dict[str, Callable[[], list[RunResult]]] = {
            "pg": lambda: ours.sweep(pg_store, plan.pg, plan.jobs),
            "sqlite": lambda: ours.sweep(sqlite_store, plan.sqlite, plan.jobs),
            "pgqueuer": lambda: peers.sweep(server, "pgqueuer", plan.pgqueuer, plan.jobs),
            "procrastinate": lambda: peers.sweep(server, "procrastinate", plan.procrastinate,
                                                 plan.jobs),
        }
        runs: list[RunResult] = []
        by_system: dict[str, list[RunResult]] = {key: [] for key in sweeps if key in only}
        for round_ in range(1, args.repeat + 1):  # rounds, so noise hits every system alike
            for key, found in by_system.items():
                say(f"round {round_} of {args.repeat}: {key}")
                for result in sweeps[key]():
                    result.round = round_
                    found.append(result)
                    runs.append(result)
        best_of = {key: best(found) for key, found in by_system.items()}
        latency: dict[str, dict[str, float]] = {}
        for key, store, idle in (("pg", pg_store, plan.idle_jobs),
                                 ("sqlite", sqlite_store, plan.sqlite_idle_jobs)):
            if (top := best_of.get(key)) is not None:
                say(f"{store.system}: latency with {top.config}")
                config = OurConfig(**top.config)
                latency[key] = ours.latency(store, config, idle, top.jobs_per_s / 2,
                                            plan.paced_seconds)
        if args.profile and (top := best_of.get("pg")) is not None:
            say(f"profiling one worker of {top.config} with py-spy over {args.profile_jobs} jobs")
            output = Path(args.profile).resolve()
            profiled = ours.throughput(pg_store, OurConfig(**top.config), args.profile_jobs,
                                       hook=start_py_spy(output), name="profile")
            figures["profile"] = {"file": str(output), "run": profiled.as_json()}
            if output.exists():
                figures["profile"] |= summarise(output, 15)
        figures["machine"]["loadavg_end"] = loadavg()
        figures |= headline(best_of, latency)
        figures["runs"] = [r.as_json() for r in runs]
        print_report(figures, runs, best_of)
        return figures
    finally:
        server.stop()


def headline(best_of: dict[str, RunResult | None],
             latency: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The keys a script compares across runs."""

    def rate(key: str) -> float | None:
        top = best_of.get(key)
        return round(top.jobs_per_s, 1) if top else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    pg, lite = rate("pg"), rate("sqlite")
    pgq, proc = rate("pgqueuer"), rate("procrastinate")
    out: dict[str, Any] = {
        "pg_jobs_per_s": pg, "sqlite_jobs_per_s": lite,
        "pgqueuer_jobs_per_s": pgq, "procrastinate_jobs_per_s": proc,
        "ratio_vs_pgqueuer": ratio(pg, pgq), "ratio_vs_procrastinate": ratio(pg, proc),
    }
    pg_latency, lite_latency = latency.get("pg", {}), latency.get("sqlite", {})
    for name in ("idle_p50_ms", "idle_p99_ms", "loaded_p50_ms", "loaded_p99_ms",
                 "loaded_rate_per_s"):
        out[name] = pg_latency.get(name)
        out[f"sqlite_{name}"] = lite_latency.get(name)
    for key in ("pg", "sqlite", "pgqueuer", "procrastinate"):
        top = best_of.get(key)
        out[f"{key}_config"] = top.config if top else None
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.engine [--jobs N] [--workers W[,W…]] [--quick]`."""
    parser = argparse.ArgumentParser(prog="bench/run engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, help="jobs per run (default 20000; 2000 --quick)")
    parser.add_argument("--workers", help="worker processes, e.g. 2 or 1,2,4 "
                        "(default: a sweep per system)")
    parser.add_argument("--quick", action="store_true", help="few jobs and configurations")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every sweep; each system's best run counts")
    parser.add_argument("--idle-jobs", type=int, help="jobs for idle latency on PostgreSQL")
    parser.add_argument("--only", help="comma-separated subset of pg,sqlite,pgqueuer,procrastinate")
    parser.add_argument("--profile", metavar="FILE.json",
                        help="also py-spy one worker of our best PostgreSQL configuration")
    parser.add_argument("--profile-jobs", type=int, default=100_000,
                        help="jobs in the profiled run")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the temporary directory of worker logs")
    args = parser.parse_args(argv)
    try:
        figures = run(args)
    finally:
        if not args.keep_logs:
            remove_log_dir()
    print(json.dumps(figures, separators=(",", ":"), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
