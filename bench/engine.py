"""`bench/run engine`: no-op jobs end to end, ours against PgQueuer and procrastinate.

Every system runs the same sweep: 1, 2 and 4 worker processes, each at three settings of
its own knobs, from its default up (ours: concurrency and batch; PgQueuer: batch up to
1,000; procrastinate: concurrency, with a pool as large). Rounds interleave the systems,
with a CHECKPOINT before each run, and every figure is the median over the rounds (three
by default) at the system's best configuration. Then each system drains a queue filled
first, and the latency from enqueue to handler start is taken in the handlers, idle and
under load, for ours on both stores and for PgQueuer. The last line of stdout is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import measure, ours, peers
from bench.common import (
    BenchError,
    RunResult,
    checkpoint,
    loadavg,
    log_dir,
    machine,
    remove_log_dir,
    say,
)
from bench.measure import Session
from bench.ours import OurConfig, OurStore
from bench.peers import PeerConfig
from bench.profile import start_py_spy, summarise
from bench.report import print_report
from policyjobs.testing.postgres import PostgresServer, start_postgres

SYSTEMS = ("pg", "sqlite", "pgqueuer", "procrastinate")
# Each system's knob settings, its default first: ours (concurrency, batch size),
# PgQueuer's batch size, procrastinate's concurrency (and connection pool).
LEVELS: dict[str, list[tuple[int, int]]] = {
    "pg": [(8, 100), (16, 500), (32, 1000)],
    "sqlite": [(8, 100), (16, 500), (32, 1000)],
    "pgqueuer": [(0, 10), (0, 100), (0, 1000)],
    "procrastinate": [(1, 0), (10, 0), (50, 0)],
}
DEFAULT_WORKERS = 2  # one per core: what "the defaults" run with
PEERS = ("pgqueuer", "asyncpg", "procrastinate", "psycopg", "psycopg-pool", "SQLAlchemy")


@dataclass(frozen=True)
class Entry:
    """One configuration of one system."""

    system: str
    workers: int
    level: int

    @property
    def knobs(self) -> tuple[int, int]:
        return LEVELS[self.system][self.level]

    def config(self) -> OurConfig | PeerConfig:
        concurrency, batch = self.knobs
        if self.system in ("pg", "sqlite"):
            return OurConfig(self.workers, concurrency, batch)
        if self.system == "pgqueuer":
            return PeerConfig(self.workers, batch_size=batch)
        return PeerConfig(self.workers, concurrency=concurrency)

    @property
    def label(self) -> str:
        config = self.config()
        return config.label if isinstance(config, OurConfig) else config.label(self.system)

    def as_json(self) -> dict[str, int]:
        config = self.config()
        return config.as_json() if isinstance(config, OurConfig) else config.as_json(self.system)


@dataclass(frozen=True)
class Plan:
    """What to run."""

    jobs: int
    procrastinate_jobs: int
    workers: list[int]
    levels: list[int]
    rounds: int
    systems: list[str]
    idle_samples: int
    loaded_samples: int

    @property
    def default_workers(self) -> int:
        return DEFAULT_WORKERS if DEFAULT_WORKERS in self.workers else self.workers[0]

    def jobs_of(self, system: str) -> int:
        return self.procrastinate_jobs if system == "procrastinate" else self.jobs


def make_plan(args: argparse.Namespace) -> Plan:
    """The plan for the command line's options."""
    workers = [int(w) for w in args.workers.split(",")] if args.workers else None
    systems = [s for s in SYSTEMS if not args.only or s in args.only.split(",")]
    if args.quick:
        jobs = args.jobs or 20_000
        return Plan(jobs, args.procrastinate_jobs or max(jobs // 20, 500), workers or [2],
                    [0, 2], args.repeat or 1, systems, args.idle_samples or 200,
                    args.loaded_samples or 1000)
    jobs = args.jobs or 100_000
    return Plan(jobs, args.procrastinate_jobs or max(jobs // 20, 500), workers or [1, 2, 4],
                [0, 1, 2], args.repeat or 3, systems, args.idle_samples or 1000,
                args.loaded_samples or 2000)


class Bench:
    """The server, the stores, and the sessions of every system."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.pg, self.sqlite = OurStore("postgresql", server), OurStore("sqlite")
        self.made = 0

    def session(self, entry: Entry, purpose: str) -> AbstractContextManager[Session]:
        self.made += 1
        name = f"{purpose}_{self.made}_{entry.label}"
        config = entry.config()
        if isinstance(config, OurConfig):
            return ours.session(self.pg if entry.system == "pg" else self.sqlite, config, name)
        if entry.system == "pgqueuer":
            return peers.pgqueuer(self.server, config, name)
        return peers.procrastinate_(self.server, config, name)

    def run(self, entry: Entry, jobs: int, kind: str, round_: int,
            timed: Callable[[Session, int], RunResult]) -> RunResult:
        """One timed run in a fresh session, after a CHECKPOINT; a failure is recorded."""
        checkpoint(self.server)
        say(f"round {round_}: {entry.system} {entry.label}, {kind} of {jobs:,} jobs")
        try:
            with self.session(entry, kind) as session:
                result = timed(session, jobs)
        except (BenchError, TimeoutError) as exc:
            result = RunResult(entry.system, {}, jobs, 0.0, kind=kind, error=str(exc))
            say(f"  failed: {exc}")
        result.system, result.round, result.config = entry.system, round_, entry.as_json()
        if not result.error:
            say(f"  -> {result.jobs_per_s:,.0f} jobs/s in {result.seconds:.2f} s")
        return result


def rotated(items: list[str], by: int) -> Iterator[str]:
    """`items` starting at position `by`: no system always runs first."""
    for index in range(len(items)):
        yield items[(index + by) % len(items)]


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep, the drains and the latencies; the figures."""
    plan = make_plan(args)
    server = start_postgres(durable=True)
    try:
        bench = Bench(server)
        figures: dict[str, Any] = {
            "jobs": plan.jobs, "procrastinate_jobs": plan.procrastinate_jobs,
            "rounds": plan.rounds, "workers_swept": plan.workers,
            "machine": machine(server), "peer_versions": versions()}
        say(f"PostgreSQL {figures['machine']['postgres']}; logs in {log_dir()}")
        runs: list[RunResult] = []
        sweep: dict[Entry, list[RunResult]] = {}
        for round_ in range(1, plan.rounds + 1):
            turn = 0
            for workers in plan.workers:
                for level in plan.levels:
                    for system in rotated(plan.systems, round_ + turn):
                        entry = Entry(system, workers, level)
                        result = bench.run(entry, plan.jobs_of(system), "throughput", round_,
                                           measure.throughput)
                        sweep.setdefault(entry, []).append(result)
                        runs.append(result)
                    turn += 1
        best = {system: _best(sweep, system) for system in plan.systems}
        drains: dict[str, list[RunResult]] = {}
        for round_ in range(1, plan.rounds + 1):
            for system in rotated(plan.systems, round_):
                if (top := best.get(system)) is not None:
                    result = bench.run(top, plan.jobs_of(system), "drain", round_,
                                       measure.drain)
                    drains.setdefault(system, []).append(result)
                    runs.append(result)
        latency = _latencies(bench, plan, sweep, best)
        if args.profile and (fastest := best.get("pg")) is not None:
            figures["profile"] = _profile(bench, fastest, Path(args.profile), args.profile_jobs)
        figures["machine"]["loadavg_end"] = loadavg()
        figures |= headline(plan, sweep, best, drains, latency)
        figures["runs"] = [r.as_json() for r in runs]
        print_report(figures, runs)
        return figures
    finally:
        server.stop()


def _rates(results: list[RunResult]) -> list[float]:
    return [r.jobs_per_s for r in results if not r.error]


def _best(sweep: dict[Entry, list[RunResult]], system: str) -> Entry | None:
    """The system's configuration with the highest median rate over the rounds."""
    found = {entry: median(_rates(results)) or 0.0
             for entry, results in sweep.items() if entry.system == system}
    top = max(found, key=lambda entry: found[entry], default=None)
    return top if top is not None and found[top] > 0 else None


def _latencies(bench: Bench, plan: Plan, sweep: dict[Entry, list[RunResult]],
               best: dict[str, Entry | None]) -> dict[str, dict[str, float]]:
    """Idle and loaded latency at each system's best configuration. PostgreSQL's two are
    loaded at the same rate: half the slower one's median best."""
    def rate_of(system: str) -> float:
        entry = best.get(system)
        return (median(_rates(sweep[entry])) or 0.0) if entry else 0.0

    shared = min((rate_of(s) for s in ("pg", "pgqueuer") if best.get(s)), default=0.0) / 2
    found: dict[str, dict[str, float]] = {}
    for system in ("pg", "sqlite", "pgqueuer"):
        entry = best.get(system)
        if entry is None:
            continue
        rate = rate_of(system) / 2 if system == "sqlite" else shared
        say(f"latency: {system} {entry.label}, {plan.idle_samples} idle jobs, then {rate:,.0f}/s")
        checkpoint(bench.server)
        try:
            with bench.session(entry, "latency") as session:
                found[system] = measure.latency(session, plan.idle_samples, rate,
                                                plan.loaded_samples)
        except (BenchError, TimeoutError) as exc:
            say(f"  failed: {exc}")
    return found


def _profile(bench: Bench, entry: Entry, output: Path, jobs: int) -> dict[str, Any]:
    """One more run of our best PostgreSQL configuration, one worker sampled by py-spy."""
    say(f"profiling one worker of {entry.label} with py-spy over {jobs:,} jobs")
    output = output.resolve()
    with bench.session(entry, "profile") as session:
        stop = start_py_spy(output)(session.workers)
        result = measure.throughput(session, jobs)
        stop()
    profile: dict[str, Any] = {"file": str(output), "run": result.as_json()}
    if output.exists():
        profile |= summarise(output, 15)
    return profile


def headline(plan: Plan, sweep: dict[Entry, list[RunResult]], best: dict[str, Entry | None],
             drains: dict[str, list[RunResult]],
             latency: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The keys a script compares across runs: medians over the rounds."""

    def by_round(entry: Entry | None) -> dict[int, float]:
        return {r.round: r.jobs_per_s for r in sweep.get(entry, []) if not r.error} \
            if entry else {}

    def ratio(a: Entry | None, b: Entry | None) -> float | None:
        ours_, theirs = by_round(a), by_round(b)
        pairs = [ours_[r] / theirs[r] for r in ours_ if theirs.get(r)]
        return round(statistics.median(pairs), 2) if pairs else None

    out: dict[str, Any] = {}
    for system in SYSTEMS:
        entry = best.get(system)
        rates = list(by_round(entry).values())
        out[f"{system}_jobs_per_s"] = median(rates)
        out[f"{system}_range"] = [round(min(rates)), round(max(rates))] if rates else None
        out[f"{system}_config"] = entry.as_json() if entry else None
        out[f"{system}_drain_jobs_per_s"] = median(_rates(drains.get(system, [])))
    out["ratio_vs_pgqueuer"] = ratio(best.get("pg"), best.get("pgqueuer"))
    out["ratio_vs_procrastinate"] = ratio(best.get("pg"), best.get("procrastinate"))
    defaults = {s: Entry(s, plan.default_workers, 0) for s in SYSTEMS}
    out["default_workers"] = plan.default_workers
    out["default_jobs_per_s"] = median(list(by_round(defaults["pg"]).values()))
    out["sqlite_default_jobs_per_s"] = median(list(by_round(defaults["sqlite"]).values()))
    out["pgqueuer_default_jobs_per_s"] = median(list(by_round(defaults["pgqueuer"]).values()))
    out["ratio_default"] = ratio(defaults["pg"], defaults["pgqueuer"])
    for prefix, system in (("", "pg"), ("sqlite_", "sqlite"), ("pgqueuer_", "pgqueuer")):
        # A drain's queue is filled by one enqueue of the whole run in one transaction.
        out[f"{prefix}enqueue_jobs_per_s"] = median([
            r.jobs / r.enqueue_seconds for r in drains.get(system, [])
            if not r.error and r.enqueue_seconds])
    runs_of: dict[str, list[RunResult]] = {}
    for entry, results in sweep.items():
        runs_of.setdefault(entry.system, []).extend(results)
    for system, results in drains.items():
        runs_of.setdefault(system, []).extend(results)
    for system in SYSTEMS:  # each kind of process's largest peak over the system's runs
        for process in ("worker", "enqueuer", "postgres"):
            peaks = [peak for r in runs_of.get(system, [])
                     if (peak := r.memory.get(f"{process}_rss_mb")) is not None]
            out[f"{system}_{process}_rss_mb"] = max(peaks, default=None)
    pg_drain, pgq_drain = out["pg_drain_jobs_per_s"], out["pgqueuer_drain_jobs_per_s"]
    out["drain_ratio_vs_pgqueuer"] = round(pg_drain / pgq_drain, 2) \
        if pg_drain and pgq_drain else None
    for prefix, system in (("", "pg"), ("sqlite_", "sqlite"), ("pgqueuer_", "pgqueuer")):
        found = latency.get(system, {})
        for name in ("idle_p50_ms", "idle_p99_ms", "idle_n", "loaded_p50_ms", "loaded_p99_ms",
                     "loaded_n", "loaded_rate_per_s"):
            out[f"{prefix}{name}"] = found.get(name)
    return out


def versions() -> dict[str, str]:
    """The installed versions of the peers and of the drivers every system uses."""
    found = {}
    for name in PEERS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.engine [options]`."""
    parser = argparse.ArgumentParser(prog="bench/run engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, help="jobs per run (100,000; 20,000 --quick)")
    parser.add_argument("--procrastinate-jobs", type=int,
                        help="jobs per procrastinate run (a twentieth of --jobs: it drains "
                             "about a hundredth as fast, so its runs still last longest)")
    parser.add_argument("--workers", help="worker processes to sweep, e.g. 2 or 1,2,4 (1,2,4)")
    parser.add_argument("--quick", action="store_true",
                        help="20,000 jobs, 2 workers, each system's default and top setting, "
                             "one round: for iterating")
    parser.add_argument("--repeat", type=int, help="interleaved rounds (3; 1 --quick)")
    parser.add_argument("--idle-samples", type=int, help="idle latency samples (1,000)")
    parser.add_argument("--loaded-samples", type=int, help="loaded latency samples (2,000)")
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(SYSTEMS))
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
