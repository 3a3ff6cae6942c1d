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


def _config(config: dict[str, Any]) -> str:
    """`w=2 c=8 b=100`: worker processes, concurrency, batch size."""
    return " ".join(f"{_SHORT.get(k, k)}={v}" for k, v in config.items())


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "-"
    return "[green]met[/green]" if ok else "[red]missed[/red]"


def print_report(figures: dict[str, Any], runs: list[RunResult],
                 best_of: dict[str, RunResult | None]) -> None:
    """Every run, then the headline figures against the issue's targets."""
    console = Console(width=200, highlight=False)
    m = figures["machine"]
    console.print(f"\n[bold]Engine benchmark[/bold] {m['date']}: {m['nproc']} CPUs, "
                  f"{m['memory']} memory, {m['postgres']}, Python {m['python']}; "
                  f"{figures['jobs']:,} no-op jobs per run; commit {m['commit']}; load average "
                  f"{m['loadavg_start']} at the start, {m.get('loadavg_end', '?')} at the end")
    table = Table(title="Throughput runs (★ = the system's best; w = worker processes, "
                        "c = concurrency, b = batch size)")
    for column in ("round", "system", "configuration", "jobs/s", "total s", "enqueue s",
                   "CPU workers s", "CPU postgres s", "CPU bench s",
                   "first start ms", "backlog p50 ms", "backlog p99 ms", "error"):
        left = column in ("system", "configuration", "error")
        table.add_column(column, justify="left" if left else "right", no_wrap=column != "error")
    winners = {id(r) for r in best_of.values() if r is not None}
    for r in runs:
        lat = r.latency_ms
        table.add_row(
            str(r.round), ("★ " if id(r) in winners else "") + r.system, _config(r.config),
            _fmt(r.jobs_per_s), _fmt(r.seconds, 2), _fmt(r.enqueue_seconds, 2),
            _fmt(r.cpu_workers_s, 2), _fmt(r.cpu_postgres_s, 2), _fmt(r.cpu_bench_s, 2),
            _fmt(lat.get("first_start_ms"), 1), _fmt(lat.get("backlog_p50_ms"), 1),
            _fmt(lat.get("backlog_p99_ms"), 1),
            (r.error or "").splitlines()[0][:60] if r.error else "",
        )
    console.print(table)

    summary = Table(title="Headline figures against the targets of issue 10")
    for column in ("figure", "value", "target", "verdict"):
        summary.add_column(column)
    pg, pgq = figures.get("pg_jobs_per_s"), figures.get("pgqueuer_jobs_per_s")
    ratio = figures.get("ratio_vs_pgqueuer")
    lite, idle = figures.get("sqlite_jobs_per_s"), figures.get("idle_p50_ms")
    rows: list[tuple[str, str, str, bool | None]] = [
        ("ours, PostgreSQL (jobs/s)", _fmt(pg), "twice PgQueuer, never below it",
         None if ratio is None else ratio >= 2),
        ("ours, SQLite synchronous=FULL (jobs/s)", _fmt(lite), "≥ 10,000 (goal 30,000)",
         None if lite is None else lite >= 10_000),
        ("PgQueuer (jobs/s)", _fmt(pgq), "", None),
        ("procrastinate (jobs/s)", _fmt(figures.get("procrastinate_jobs_per_s")), "", None),
        ("ratio vs PgQueuer", _fmt(ratio, 2), "≥ 2 (≥ 1 to resolve)",
         None if ratio is None else ratio >= 2),
        ("ratio vs procrastinate", _fmt(figures.get("ratio_vs_procrastinate"), 1), "", None),
        ("idle enqueue→start p50 / p99 ms, PostgreSQL",
         f"{_fmt(idle, 2)} / {_fmt(figures.get('idle_p99_ms'), 2)}",
         "p50 < 10 (goal 5)", None if idle is None else idle < 10),
        ("loaded enqueue→start p50 / p99 ms, PostgreSQL",
         f"{_fmt(figures.get('loaded_p50_ms'), 2)} / {_fmt(figures.get('loaded_p99_ms'), 2)}"
         f" at {_fmt(figures.get('loaded_rate_per_s'))}/s", "", None),
        ("idle enqueue→start p50 / p99 ms, SQLite",
         f"{_fmt(figures.get('sqlite_idle_p50_ms'), 2)} / "
         f"{_fmt(figures.get('sqlite_idle_p99_ms'), 2)}", "", None),
        ("loaded enqueue→start p50 / p99 ms, SQLite",
         f"{_fmt(figures.get('sqlite_loaded_p50_ms'), 2)} / "
         f"{_fmt(figures.get('sqlite_loaded_p99_ms'), 2)}"
         f" at {_fmt(figures.get('sqlite_loaded_rate_per_s'))}/s", "", None),
    ]
    for key in ("pg", "sqlite", "pgqueuer", "procrastinate"):
        config = figures.get(f"{key}_config")
        rows.append((f"best configuration, {key}", _config(config) if config else "-", "", None))
    for name, value, target, ok in rows:
        summary.add_row(name, value, target, _verdict(ok))
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
