"""What every benchmark run shares: worker processes, CPU accounting, polling, percentiles."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from policyjobs.testing.postgres import PostgresServer
from policyjobs.testing.processes import Spawned, children_of, command_line

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
POLL_SECONDS = 0.02  # how often completion is polled
RUN_TIMEOUT = 300.0  # seconds, for any one run
_log_dir: list[Path] = []  # created on first use, so importing this module leaves nothing
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A run that could not complete: a worker died, or the timeout passed."""


@dataclass
class RunResult:
    """One throughput run: what ran, how fast, and where the CPU went."""

    system: str  # "ours/postgresql", "ours/sqlite", "pgqueuer", "procrastinate"
    config: dict[str, Any]
    jobs: int
    seconds: float
    enqueue_seconds: float = 0.0
    cpu_workers_s: float = 0.0
    cpu_postgres_s: float = 0.0
    cpu_bench_s: float = 0.0
    kind: str = "throughput"  # or "drain": enqueued first, then drained
    error: str | None = None
    round: int = 1
    memory: dict[str, float | None] = field(default_factory=dict)  # `MemoryMeter.stop`'s

    @property
    def jobs_per_s(self) -> float:
        """Throughput; 0 for a failed run."""
        return self.jobs / self.seconds if self.seconds > 0 and not self.error else 0.0

    def as_json(self) -> dict[str, Any]:
        """The run as plain JSON values."""
        return {
            "system": self.system, "kind": self.kind, "config": self.config, "jobs": self.jobs,
            "seconds": round(self.seconds, 3), "jobs_per_s": round(self.jobs_per_s, 1),
            "enqueue_seconds": round(self.enqueue_seconds, 3),
            "cpu_workers_s": round(self.cpu_workers_s, 2),
            "cpu_postgres_s": round(self.cpu_postgres_s, 2),
            "cpu_bench_s": round(self.cpu_bench_s, 2),
            "error": self.error, "round": self.round, **self.memory,
        }


def log_dir() -> Path:
    """This run's temporary directory: worker logs, SQLite files, the product's home."""
    if not _log_dir:
        _log_dir.append(Path(tempfile.mkdtemp(prefix="policyjobs-bench-")))
    return _log_dir[0]


def remove_log_dir() -> None:
    """Delete this run's temporary directory, if one was made."""
    while _log_dir:
        shutil.rmtree(_log_dir.pop(), ignore_errors=True)


def figures_of(run: Callable[[argparse.Namespace], dict[str, Any]],
               args: argparse.Namespace) -> int:
    """Run a benchmark: its figures as the last line of stdout and 0, or why it failed on
    stderr and 1; this run's directory is removed unless `--keep-logs`."""
    try:
        figures = run(args)
    except (BenchError, TimeoutError) as exc:
        say(f"failed: {exc}; logs in {log_dir()}")
        return 1
    finally:
        if not args.keep_logs:
            remove_log_dir()
    print(json.dumps(figures))
    return 0


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the table and the JSON line."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- processes ----------------------------------------------------------------------------------


class Workers:
    """A set of processes (`policyjobs worker`, `serve`, or a peer's), each logging to its own
    file in this run's directory; stopped in `stop`."""

    def __init__(self, label: str, argv: Sequence[str], env: dict[str, str], count: int) -> None:
        self.label, self.argv, self.env = label, list(argv), env
        self._replacing = threading.Lock()  # a check never sees a worker killed on purpose
        self.spawned = [self._start(log_dir() / f"{label}-{i}.log") for i in range(count)]

    def _start(self, log: Path) -> Spawned:
        return Spawned(self.argv, self.env, log, cwd=REPO)

    @property
    def procs(self) -> list[subprocess.Popen[bytes]]:
        """The processes."""
        return [one.process for one in self.spawned]

    def kill_and_replace(self, index: int) -> int:
        """SIGKILL worker `index` (and its children) and start another in its place, as a
        supervisor would; the killed process's id."""
        with self._replacing:
            killed = self.spawned[index]
            killed.kill()
            self.spawned[index] = self._start(killed.log)
        return killed.pid

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return [one.pid for one in self.spawned]

    def check(self) -> None:
        """Raise if any worker has exited."""
        with self._replacing:
            spawned = list(self.spawned)
        for one in spawned:
            try:
                one.check()
            except RuntimeError as exc:
                raise BenchError(f"{self.label} worker {exc}") from None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every worker, then SIGKILL (the whole session) whatever is left."""
        for one in self.spawned:
            one.terminate()
        deadline = time.monotonic() + grace
        for one in self.spawned:
            one.stop(max(deadline - time.monotonic(), 0.1))


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without POLICYJOBS_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYJOBS_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def cpu_seconds(pids: Sequence[int], *, reaped: bool = False) -> float:
    """User + system CPU time of the given live processes; with `reaped`, that of their
    children that have ended (and been waited for) instead."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime; cutime, cstime
        total += int(fields[13]) + int(fields[14]) if reaped else int(fields[11]) + int(fields[12])
    return total / _CLK_TCK


class CpuMeter:
    """CPU seconds spent by the workers, PostgreSQL and this process over one run."""

    def __init__(self, workers: Callable[[], Sequence[int]], postmaster: int | None) -> None:
        self._workers = workers
        self._postmaster = postmaster
        self._start = self._sample()

    def _postgres(self) -> list[int]:
        return postgres_processes(self._postmaster)

    def _sample(self) -> tuple[float, dict[int, float], float, float]:
        pg = {pid: cpu_seconds([pid]) for pid in self._postgres()}
        ended = cpu_seconds([self._postmaster], reaped=True) if self._postmaster else 0.0
        return cpu_seconds(self._workers()), pg, ended, time.process_time()

    def stop(self) -> tuple[float, float, float]:
        """(workers, postgres, bench) CPU seconds since the meter started."""
        workers, pg, ended, bench = self._sample()
        start_workers, start_pg, start_ended, start_bench = self._start
        # Live backends are diffed. Those that ended count whole in the postmaster's reaped
        # children, less what they had spent when the meter started.
        pg_delta = (sum(v - start_pg.get(pid, 0.0) for pid, v in pg.items())
                    + ended - start_ended
                    - sum(v for pid, v in start_pg.items() if pid not in pg))
        return workers - start_workers, pg_delta, bench - start_bench


class KindCpu:
    """CPU seconds of each kind of process (`bench_processes`, and PostgreSQL's) over a
    stretch of a run: a process alive at the start counts from then, one started since counts
    whole, one that ended in between not at all (the kinds here live through a run)."""

    def __init__(self, server: PostgresServer | None) -> None:
        self._postmaster = postmaster(server) if server is not None else None
        self._start = self._sample()

    def _sample(self) -> dict[str, dict[int, float]]:
        kinds = bench_processes()
        kinds["postgres"] = postgres_processes(self._postmaster)
        return {kind: {pid: cpu_seconds([pid]) for pid in pids} for kind, pids in kinds.items()}

    def stop(self) -> dict[str, float]:
        """Each kind's CPU seconds since the meter started."""
        return {kind: round(sum(cpu - self._start.get(kind, {}).get(pid, 0.0)
                                for pid, cpu in now.items()), 2)
                for kind, now in self._sample().items()}


def postmaster(server: PostgresServer) -> int:
    """The process id of the server's postmaster, whose children are its backends."""
    return int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])


def postgres_processes(postmaster: int | None) -> list[int]:
    """The postmaster `postmaster` and its backends; none for a run without PostgreSQL."""
    return [postmaster, *children_of(postmaster)] if postmaster else []


def checkpoint(server: PostgresServer) -> None:
    """Write every dirty page now, so that no run pays for the one before it."""
    with psycopg.connect(host=server.host, port=server.port, user=server.user,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def idle_sessions(conninfo: str, database: str, pattern: str = "LISTEN%") -> int:
    """How many idle sessions on `database` last ran a query like `pattern`: ready workers."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT pid) FROM pg_stat_activity "
            "WHERE datname = %s AND state = 'idle' AND query ILIKE %s", (database, pattern),
        ).fetchone()
    return int(row[0]) if row else 0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 to 100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def latency_summary(prefix: str, samples_ms: Sequence[float]) -> dict[str, float]:
    """p50 and p99 (and the count) of latency samples in milliseconds."""
    return {
        f"{prefix}_p50_ms": round(percentile(samples_ms, 50), 2),
        f"{prefix}_p99_ms": round(percentile(samples_ms, 99), 2),
        f"{prefix}_n": float(len(samples_ms)),
    }


# -- the machine --------------------------------------------------------------------------------


def machine(server: PostgresServer) -> dict[str, Any]:
    """What the figures were measured on."""
    with psycopg.connect(host=server.host, port=server.port, user=server.user,
                         dbname="postgres") as conn:
        row = conn.execute("SELECT version()").fetchone()
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    total = next((line.split()[1] for line in memory.splitlines() if line.startswith("Mem:")), "?")
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": head + (" + uncommitted changes" if dirty else ""),
        "loadavg_start": loadavg(),
        "nproc": os.cpu_count(), "memory": total,
        "postgres": " ".join(str(row[0]).split()[:2]) if row else server.version,
        "python": sys.version.split()[0],
    }


def loadavg() -> str:
    """The 1-, 5- and 15-minute load averages: other work on the machine skews the figures."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _status_kb(pid: int, field: str) -> int | None:
    """A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM), or None if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _pss_kb(pid: int) -> int | None:
    """A process's proportional set size in KiB (shared pages split among their sharers, so
    a sum over processes counts PostgreSQL's shared buffers once), or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _parents() -> dict[int, int]:
    """Every process's parent, in one pass over /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                found[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return found


def _kind_of(args: list[str], parent_kind: str | None) -> str:
    """A process's kind by its command line (and its parent's kind)."""
    joined = " ".join(args)
    if "policyjobs.documents.renderers" in joined:
        return "renderer"
    if "policyjobs" in joined and "worker" in args:
        return "worker"
    if "policyjobs" in joined and "serve" in args:
        return "api"
    if parent_kind == "api" and "multiprocessing" in joined:
        return "api"  # one of `serve --processes N`'s
    return "other"


def bench_processes() -> dict[str, list[int]]:
    """The processes this benchmark started, by kind: `api` (`policyjobs serve` and the
    processes it spawns), `worker`, `renderer` (a worker's, or an embedded worker's) and
    `other` (a load generator, a receiver), found among this process's descendants."""
    parents = _parents()
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found: dict[str, list[int]] = {"api": [], "worker": [], "renderer": [], "other": []}
    pending: list[tuple[int, str | None]] = [(pid, None) for pid in children.get(os.getpid(), [])]
    while pending:
        pid, parent_kind = pending.pop()
        kind = _kind_of(command_line(pid), parent_kind)
        found[kind].append(pid)
        pending.extend((child, kind) for child in children.get(pid, []))
    return found


def memory_meter(server: PostgresServer | None, every: float = 5.0) -> MemoryMeter:
    """A `MemoryMeter` over every kind of process of a benchmark (`bench_processes`, the
    benchmark's own process, and PostgreSQL's postmaster and backends)."""

    def of(kind: str) -> Callable[[], Sequence[int]]:
        return lambda: bench_processes()[kind]

    kinds = {kind: of(kind) for kind in ("api", "worker", "renderer", "other")}
    kinds["bench"] = lambda: [os.getpid()]
    if server is not None:
        kinds["postgres"] = lambda: postgres_processes(postmaster(server))
    return MemoryMeter(kinds, every=every)


class MemoryMeter:
    """The memory of each kind of process over a run, sampled every `every` seconds in a
    thread of its own: for each kind (a callable giving its pids now), the peak resident
    size of its largest process (`VmHWM`, the kernel's own peak, for those alive at a
    sample; the last sample's `VmRSS` for those that ended between samples) and the peak of
    its processes' summed proportional size (PSS). `snapshot` notes each kind's summed RSS
    now, for figures over the run's course."""

    def __init__(self, kinds: dict[str, Callable[[], Sequence[int]]], every: float = 1.0) -> None:
        self._kinds, self._every = kinds, every
        self._peak = dict.fromkeys(kinds, 0)  # KiB, the largest process
        self._total = dict.fromkeys(kinds, 0)  # KiB, the summed PSS
        self.snapshots: dict[str, dict[str, float]] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="memory-meter", daemon=True)
        self._thread.start()

    def _pids(self, kind: str) -> list[int]:
        try:
            return list(self._kinds[kind]())
        except OSError:
            return []

    def _sample(self) -> None:
        for kind in self._kinds:
            pids = self._pids(kind)
            peaks = [_status_kb(pid, "VmHWM") or _status_kb(pid, "VmRSS") or 0 for pid in pids]
            total = sum(_pss_kb(pid) or 0 for pid in pids)
            with self._lock:
                self._peak[kind] = max(self._peak[kind], *peaks, 0)
                self._total[kind] = max(self._total[kind], total)

    def _loop(self) -> None:
        while not self._stopping.wait(self._every):
            self._sample()

    def snapshot(self, label: str) -> None:
        """Note each kind's summed RSS now, in MiB, as `label`."""
        self.snapshots[label] = {
            kind: round(sum(_status_kb(pid, "VmRSS") or 0 for pid in self._pids(kind)) / 1024, 1)
            for kind in self._kinds}

    def stop(self) -> dict[str, float | None]:
        """Stop sampling; the figures, in MiB: `<kind>_rss_mb` (its largest process's peak
        RSS) and `<kind>_total_pss_rss_mb` (the peak of its processes' summed PSS); None for
        a kind none of whose processes ran."""
        self._sample()
        self._stopping.set()
        self._thread.join(timeout=10)
        with self._lock:
            out = {f"{kind}_rss_mb": round(kb / 1024, 1) if kb else None  # none ran
                   for kind, kb in self._peak.items()}
            out |= {f"{kind}_total_pss_rss_mb": round(kb / 1024, 1) if kb else None
                    for kind, kb in self._total.items()}
        return out
