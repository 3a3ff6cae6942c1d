"""The engine benchmark's human-readable tables (rich), printed before the JSON line."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import RunResult


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:,.{digits}f}"


_SHORT = {"workers": "w", "concurrency": "c", "batch_size": "b"}


def _config(config: dict[str, Any] | None) -> str:
    """`w=2 c=8 b=100`: worker processes, concurrency, batch size."""
    return " ".join(f"{_SHORT.get(k, k)}={v}" for k, v in (config or {}).items()) or "-"


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "-"
    return "[green]met[/green]" if ok else "[red]missed[/red]"


def _per_job(seconds: float, jobs: int) -> str:
    return _fmt(seconds / jobs * 1e6) if jobs else "-"


def print_report(figures: dict[str, Any], runs: list[RunResult]) -> None:
    """Every run, then the headline figures against the targets of issue 19."""
    console = Console(width=200, highlight=False)
    m = figures["machine"]
    console.print(f"\n[bold]Engine benchmark[/bold] {m['date']}: {m['nproc']} CPUs, "
                  f"{m['memory']} memory, {m['postgres']}, Python {m['python']}; "
                  f"{figures['jobs']:,} no-op jobs per run ({figures['procrastinate_jobs']:,} "
                  f"for procrastinate), {figures['rounds']} interleaved rounds; commit "
                  f"{m['commit']}; load average {m['loadavg_start']} at the start, "
                  f"{m.get('loadavg_end', '?')} at the end; peers "
                  + ", ".join(f"{k} {v}" for k, v in figures["peer_versions"].items()))
    table = Table(title="Every run (w = worker processes, c = concurrency, b = batch size; "
                        "CPU in µs per job)")
    for column in ("round", "system", "run", "configuration", "jobs/s", "seconds",
                   "enqueue s", "CPU workers", "CPU postgres", "CPU bench", "error"):
        left = column in ("system", "run", "configuration", "error")
        table.add_column(column, justify="left" if left else "right", no_wrap=column != "error")
    for r in runs:
        table.add_row(
            str(r.round), r.system, r.kind, _config(r.config), _fmt(r.jobs_per_s),
            _fmt(r.seconds, 2), _fmt(r.enqueue_seconds, 2), _per_job(r.cpu_workers_s, r.jobs),
            _per_job(r.cpu_postgres_s, r.jobs), _per_job(r.cpu_bench_s, r.jobs),
            (r.error or "").splitlines()[0][:60] if r.error else "")
    console.print(table)

    summary = Table(title="Medians over the rounds, against the targets of issue 19")
    for column in ("figure", "value", "rounds' range", "target", "verdict"):
        summary.add_column(column)
    f = figures
    ratio, default, lite = f.get("ratio_vs_pgqueuer"), f.get("ratio_default"), \
        f.get("sqlite_jobs_per_s")
    idle50, idle99 = f.get("idle_p50_ms"), f.get("idle_p99_ms")
    enq, lite_enq = f.get("enqueue_jobs_per_s"), f.get("sqlite_enqueue_jobs_per_s")

    def spread(key: str) -> str:
        found = f.get(f"{key}_range")
        return f"{found[0]:,} to {found[1]:,}" if found else ""

    rows: list[tuple[str, str, str, str, bool | None]] = [
        (f"ours, PostgreSQL, best ({_config(f.get('pg_config'))})", _fmt(f.get("pg_jobs_per_s")),
         spread("pg"), "", None),
        (f"PgQueuer, best ({_config(f.get('pgqueuer_config'))})",
         _fmt(f.get("pgqueuer_jobs_per_s")), spread("pgqueuer"), "", None),
        ("ratio vs PgQueuer (median of the rounds' ratios)", _fmt(ratio, 2), "",
         "≥ 1.5 to resolve, 2 the goal", None if ratio is None else ratio >= 1.5),
        (f"defaults, {f.get('default_workers')} workers: ours / PgQueuer",
         f"{_fmt(f.get('default_jobs_per_s'))} / {_fmt(f.get('pgqueuer_default_jobs_per_s'))}"
         f" = {_fmt(default, 2)}", "", "≥ 1.0", None if default is None else default >= 1.0),
        (f"ours, SQLite synchronous=FULL, best ({_config(f.get('sqlite_config'))})",
         _fmt(lite), spread("sqlite"), "≥ 20,000", None if lite is None else lite >= 20_000),
        (f"procrastinate, best ({_config(f.get('procrastinate_config'))})",
         _fmt(f.get("procrastinate_jobs_per_s")), spread("procrastinate"), "", None),
        ("drained from a full queue: ours PG / PgQueuer / SQLite / procrastinate",
         " / ".join(_fmt(f.get(f"{s}_drain_jobs_per_s"))
                    for s in ("pg", "pgqueuer", "sqlite", "procrastinate")), "", "", None),
        ("one enqueue of a drain's jobs: ours PG / SQLite / PgQueuer, jobs/s",
         " / ".join(_fmt(f.get(f"{p}enqueue_jobs_per_s")) for p in ("", "sqlite_", "pgqueuer_")),
         "", "≥ 60,000 / ≥ 40,000",
         None if enq is None or lite_enq is None else enq >= 60_000 and lite_enq >= 40_000),
        ("peak RSS MiB of a worker: ours PG / SQLite / PgQueuer / procrastinate",
         " / ".join(_fmt(f.get(f"{s}_worker_rss_mb"), 1)
                    for s in ("pg", "sqlite", "pgqueuer", "procrastinate")), "", "", None),
        ("peak RSS MiB of a PostgreSQL process (ours / PgQueuer) and of the enqueuer (ours)",
         f"{_fmt(f.get('pg_postgres_rss_mb'), 1)} / {_fmt(f.get('pgqueuer_postgres_rss_mb'), 1)}"
         f" and {_fmt(f.get('pg_enqueuer_rss_mb'), 1)}", "", "", None),
        ("idle enqueue→handler p50 / p99 ms, ours PostgreSQL",
         f"{_fmt(idle50, 2)} / {_fmt(idle99, 2)}", "", "< 5 / < 20",
         None if idle50 is None or idle99 is None else idle50 < 5 and idle99 < 20),
    ]
    for label, prefix in (("ours PostgreSQL", ""), ("PgQueuer", "pgqueuer_"),
                          ("ours SQLite", "sqlite_")):
        if label != "ours PostgreSQL":
            rows.append((f"idle enqueue→handler p50 / p99 ms, {label}",
                         f"{_fmt(f.get(prefix + 'idle_p50_ms'), 2)} / "
                         f"{_fmt(f.get(prefix + 'idle_p99_ms'), 2)}", "", "", None))
        rows.append((f"loaded enqueue→handler p50 / p99 ms, {label}",
                     f"{_fmt(f.get(prefix + 'loaded_p50_ms'), 2)} / "
                     f"{_fmt(f.get(prefix + 'loaded_p99_ms'), 2)} at "
                     f"{_fmt(f.get(prefix + 'loaded_rate_per_s'))}/s", "", "", None))
    for row in rows:
        summary.add_row(*row[:4], _verdict(row[4]))
    console.print(summary)

    profile = figures.get("profile")
    if profile and "self" in profile:
        table = Table(title=f"py-spy, one worker, {profile['run']['config']}: "
                            "top frames by self time (% of GIL-holding samples)")
        table.add_column("%", justify="right")
        table.add_column("frame")
        for name, pct in profile["self"]:
            table.add_row(f"{pct:.1f}", name)
        console.print(table)
