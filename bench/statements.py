"""Where PostgreSQL's time goes: one throughput run with pg_stat_statements loaded.

`python -m bench.statements [--jobs N] [--workers W] [--concurrency C] [--batch-size B]
[--peer]` starts a durable server with `pg_stat_statements` preloaded, drains N no-op
jobs with our workers (and, with --peer, with PgQueuer at 1 worker and batch 500), and
prints each run's statements by total execution time, plus the jobs table's scan and
update counters. A diagnostic for bench/README.md, not part of `bench/run engine`.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from bench import measure, ours, peers
from bench.common import RunResult, remove_log_dir
from policyjobs.testing.postgres import PostgresServer, start_postgres

TOP = 12


def _server(base: Path) -> PostgresServer:
    """A durable server whose next start preloads pg_stat_statements."""
    first = start_postgres(base, durable=True)
    with psycopg.connect(host=first.host, port=first.port, user=first.user, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    first.stop()
    server = start_postgres(base, durable=True, port=first.port)
    with psycopg.connect(host=server.host, port=server.port, user=server.user, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    return server


def _report(console: Console, server: PostgresServer, database: str, result: RunResult,
            table_name: str) -> None:
    console.print(f"\n[bold]{result.system} {result.config}[/bold]: "
                  f"{result.jobs_per_s:,.0f} jobs/s, CPU workers {result.cpu_workers_s:.2f}s, "
                  f"postgres {result.cpu_postgres_s:.2f}s, bench {result.cpu_bench_s:.2f}s")
    with psycopg.connect(host=server.host, port=server.port, user=server.user,
                         dbname="postgres") as conn:
        rows = conn.execute(
            "SELECT calls, rows, total_exec_time, total_exec_time / calls, "
            "       shared_blks_hit + shared_blks_read, wal_bytes, "
            "       regexp_replace(left(query, 90), '\\s+', ' ', 'g') "
            "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = %s ORDER BY total_exec_time DESC LIMIT %s",
            (database, TOP),
        ).fetchall()
    with psycopg.connect(host=server.host, port=server.port, user=server.user,
                         dbname=database) as conn:
        counters = conn.execute(
            "SELECT seq_scan, seq_tup_read, idx_scan, n_tup_ins, n_tup_upd, n_tup_hot_upd, "
            "n_tup_del FROM pg_stat_user_tables WHERE relname = %s", (table_name,),
        ).fetchone()
    table = Table(title=f"statements by total execution time ({database})")
    for column in ("calls", "rows", "total ms", "µs/job", "mean ms", "blocks", "WAL kB/1k jobs",
                   "query"):
        table.add_column(column, justify="left" if column == "query" else "right",
                         no_wrap=column == "query")
    for calls, nrows, total, mean, blocks, wal, query in rows:
        table.add_row(
            f"{calls:,}", f"{nrows:,}", f"{total:,.0f}", f"{1000 * total / result.jobs:.1f}",
            f"{mean:.3f}", f"{blocks:,}", f"{float(wal) / result.jobs:.1f}", query,
        )
    console.print(table)
    if counters:
        names = ("seq_scan", "seq_tup_read", "idx_scan", "n_tup_ins", "n_tup_upd",
                 "n_tup_hot_upd", "n_tup_del")
        console.print(f"{table_name}: " + ", ".join(
            f"{n}={v:,}" for n, v in zip(names, counters, strict=True)))


def main() -> None:
    """Run the diagnostic."""
    parser = argparse.ArgumentParser(prog="python -m bench.statements")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--peer", action="store_true", help="also PgQueuer (1 worker, batch 500)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="ALTER DATABASE … SET for our database (an experiment)")
    args = parser.parse_args()
    console = Console(width=200, highlight=False)
    base = Path(tempfile.mkdtemp(prefix="policyjobs-bench-pgss-"))
    server: PostgresServer | None = None
    try:
        server = _server(base)
        config = ours.OurConfig(args.workers, args.concurrency, args.batch_size)
        settings = dict(item.split("=", 1) for item in args.set)
        store = ours.OurStore("postgresql", server, settings)
        with ours.session(store, config, config.label) as session:
            result = measure.throughput(session, args.jobs)
        _report(console, server, f"ours_{config.label}", result, "jobs")
        if args.peer:
            peer = peers.PeerConfig(1, batch_size=500)
            with peers.pgqueuer(server, peer, peer.label("pgqueuer")) as session:
                found = measure.throughput(session, args.jobs)
            _report(console, server, f"pgqueuer_{peer.label('pgqueuer')}", found, "pgqueuer")
    finally:
        if server:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
        remove_log_dir()


if __name__ == "__main__":
    main()
