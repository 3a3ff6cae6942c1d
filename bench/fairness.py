"""`bench/run fairness`: whether one tenant's backlog holds back other work, and the cost.

Each measure runs on PostgreSQL (two `policyjobs worker` processes; `serve --no-worker`
takes the events) and on SQLite (two `policyjobs worker` processes for the engine's jobs;
the default `policyjobs serve` for the documents), in `--rounds` interleaved rounds, each
in a fresh store:

- **fair**: tenant A keeps `--backlog` (10,000) no-op jobs due, topped up every 100 ms as
  the workers drain them, while tenants B, C, D and E each enqueue one job every 100 ms
  for `--seconds` (10). B-E's enqueue→handler-start, p50 and p99 (`fair_p99_ms`, taken in
  the handlers as `bench/run engine` takes its latencies), and A's jobs/s meanwhile.
- **neighbour**: tenant A sends a burst of `--burst` (2,000) priced quotes, a one-page PDF
  each (`bench/run documents`' quote), and then tenant B sends one: B's seconds from its
  event to its PDF ready (`neighbour_quote_s`), and how many of A's were ready by then.
- **priority**: one tenant's nightly batch of `--burst` invoice documents (made as an
  invoicing run makes them, through the documents domain's listener of new invoices),
  then its own priced quote: the quote's event→PDF-ready seconds (`priority_quote_s`).
- **cost**: `bench/run engine --quick --jobs 100000 --only pg,sqlite` (2 workers, at the
  product's default settings and at the headline c=32 b=1000), run from this tree and
  from a worktree of `--before` (by default the commit before claims were shared out),
  alternately first; each figure's median over the rounds and the median of the rounds'
  ratios (this tree / before).

The last line of stdout is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.common import (
    PYTHON,
    REPO,
    BenchError,
    Workers,
    clean_env,
    figures_of,
    loadavg,
    log_dir,
    machine,
    memory_meter,
    percentile,
    say,
)
from bench.documents import CONFIG as QUOTE_CONFIG
from bench.documents import POLICYJOBS, cli, quote, wait_up
from bench.measure import stamps_folder
from bench.noop_domain import KIND, STAMP
from bench.noop_domain import domain as noop_domain
from bench.ours import OurStore
from bench.stamps import VARIABLE as STAMPS_VARIABLE
from bench.stamps import count as stamps_count
from bench.stamps import read as read_stamps
from policyjobs.app import build_runtime
from policyjobs.documents.service import on_invoices_made
from policyjobs.engine import NIL_UUID, NewJob
from policyjobs.runtime import Runtime
from policyjobs.settings import Settings
from policyjobs.testing.postgres import PostgresServer, free_port, start_postgres

NEIGHBOURS = ("B", "C", "D", "E")
TICK = 0.1  # seconds between a neighbour's jobs, and between top-ups of A's backlog
BATCH = 50  # quotes per intake request
TOP_UP = 500  # of A's jobs a transaction: SQLite's one writer holds its lock for no longer
INVOICE_TEMPLATE = """
<style>
  @page { size: A4; margin: 2cm; }
  body { font-family: sans-serif; font-size: 10pt; }
  table { width: 100%; border-collapse: collapse; }
  td, th { border-bottom: 1px solid #ccc; padding: 4px; text-align: left; }
</style>
<h1>Invoice {{ invoice.locator }}</h1>
<p>Account {{ invoice.accountLocator }}, due {{ invoice.dueTime }}</p>
<table>
  <tr><th>Installment</th><th>Amount ({{ invoice.currency }})</th></tr>
  {% for item in invoice["items"] %}
  <tr><td>{{ item.installmentLocator }}</td><td>{{ item.amount }}</td></tr>
  {% endfor %}
</table>
<p>Total due: {{ invoice.totalAmount }} {{ invoice.currency }}</p>
"""
INVOICE_DOCUMENT = {"staticName": "invoiceNotice", "name": "Invoice", "trigger": "generated",
                    "scope": "invoice", "format": "pdf", "template": INVOICE_TEMPLATE}
STORES = ("postgresql", "sqlite")
MEASURES = ("fair", "neighbour", "priority", "cost")


# -- fair: neighbours' jobs behind a backlog -------------------------------------------------------


def fair(store: str, server: PostgresServer, round_: int,
         args: argparse.Namespace) -> dict[str, Any]:
    """Tenant A's backlog kept full, B-E's jobs every 100 ms; their latency and A's rate."""
    name = f"fair_{round_}"
    ours = OurStore(store, server if store == "postgresql" else None)
    url = ours.fresh(name)
    home = log_dir() / f"home-{name}-{store}"
    runtime = build_runtime(Settings(database_url=url, home=home), extra_domains=[noop_domain])
    folder = stamps_folder(log_dir(), f"{store}-{name}")
    env = clean_env(POLICYJOBS_DATABASE_URL=url, POLICYJOBS_PLUGINS="bench.noop_domain",
                    POLICYJOBS_HOME=str(home), POLICYJOBS_LOG_LEVEL="warning",
                    **{STAMPS_VARIABLE: str(folder)})
    workers = Workers(f"{store}-{name}", [PYTHON, "-m", "policyjobs", "worker"], env,
                      args.workers)
    try:
        ready = ours.ready(url, workers)
        deadline = time.monotonic() + 60
        while not ready():
            workers.check()
            if time.monotonic() > deadline:
                raise BenchError("the workers did not start within 60 s")
            time.sleep(0.05)
        top_up(runtime, args.backlog)
        finished_before, began = a_finished(runtime), time.perf_counter()
        sent = 0
        with topping_up(runtime, args.backlog):
            next_tick = began
            while time.perf_counter() < began + args.seconds:
                for tenant in NEIGHBOURS:  # each its own transaction, as platforms send
                    enqueue(runtime, [NewJob(STAMP, tenant, {"sent": time.time()})])
                    sent += 1
                workers.check()
                next_tick += TICK
                time.sleep(max(next_tick - time.perf_counter(), 0))
        elapsed = time.perf_counter() - began
        a_rate = (a_finished(runtime) - finished_before) / elapsed
        deadline = time.monotonic() + 60
        while stamps_count(folder) < sent:
            workers.check()
            if time.monotonic() > deadline:
                raise BenchError(f"{stamps_count(folder)} of {sent} neighbours' jobs ran")
            time.sleep(0.05)
        samples = read_stamps(folder)
    finally:
        workers.stop()
        runtime.close()
    found = {"store": store, "round": round_, "samples": len(samples),
             "p50_ms": round(percentile(samples, 50), 2),
             "p99_ms": round(percentile(samples, 99), 2),
             "max_ms": round(max(samples), 2), "a_jobs_per_s": round(a_rate)}
    say(f"round {round_}, fair on {store}: B-E p50 {found['p50_ms']} ms, p99 {found['p99_ms']} "
        f"ms ({len(samples)} jobs) while A ran {found['a_jobs_per_s']:,} jobs/s")
    return found


def enqueue(runtime: Runtime, jobs: list[NewJob]) -> None:
    """Enqueue `jobs` in one transaction."""
    with runtime.db.begin() as conn:
        runtime.queue.enqueue(conn, jobs)


def top_up(runtime: Runtime, backlog: int) -> None:
    """Bring tenant A's due jobs back to `backlog`."""
    with runtime.db.connect() as conn:
        queued = conn.execute(sa.text("SELECT count(*) FROM job_queue "
                                      "WHERE tenant = 'A' AND status = 'queued'")).scalar_one()
    for start in range(queued, backlog, TOP_UP):
        enqueue(runtime, [NewJob(KIND, "A") for _ in range(min(TOP_UP, backlog - start))])


@contextmanager
def topping_up(runtime: Runtime, backlog: int) -> Iterator[None]:
    """Keep tenant A's backlog topped up every 100 ms, on a thread of its own, so that the
    neighbours' jobs go out on time however long a top-up takes."""
    stop = threading.Event()
    failed: list[BaseException] = []

    def loop() -> None:
        try:
            while not stop.wait(TICK):
                top_up(runtime, backlog)
        except BaseException as exc:  # reported by the caller
            failed.append(exc)

    thread = threading.Thread(target=loop, name="top-up", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if failed:
        raise BenchError(f"topping up A's backlog failed: {failed[0]}")


def a_finished(runtime: Runtime) -> int:
    """How many of tenant A's jobs have finished."""
    with runtime.db.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM jobs WHERE tenant = 'A' AND status = 'finished'")).scalar_one())


# -- neighbour and priority: a quote's PDF behind a burst ------------------------------------------


@dataclass
class Product:
    """The product as a user runs it on one store: its environment, API URL and processes."""

    env: dict[str, str]
    url: str
    processes: list[Workers]

    def check(self) -> None:
        """Raise if a process died."""
        for process in self.processes:
            process.check()


@contextmanager
def product(store: str, server: PostgresServer, name: str, workers: int) -> Iterator[Product]:
    """On PostgreSQL `serve --no-worker` and `workers` worker processes; on SQLite the
    default `serve`; stopped on the way out, whatever is left in the queue."""
    home = log_dir() / f"home-{name}-{store}"
    env = clean_env(POLICYJOBS_HOME=str(home), POLICYJOBS_LOG_LEVEL="warning")
    env["POLICYJOBS_DATABASE_URL"] = (server.create_database(name) if store == "postgresql"
                                      else f"sqlite:///{home / 'policyjobs.db'}")
    cli(env, "migrate")
    port = free_port()
    serve = [POLICYJOBS, "serve", "--port", str(port)]
    processes = [Workers(f"{name}-{store}-api", serve + ["--no-worker"] * (store != "sqlite"),
                         env, 1)]
    if store == "postgresql":
        processes.append(Workers(f"{name}-{store}-worker", [POLICYJOBS, "worker"], env, workers))
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(url, processes[0])
        yield Product(env, url, processes)
    finally:
        for process in processes:
            process.stop(grace=5)


def tenant(made: Product, config: dict[str, Any]) -> tuple[str, httpx.Client]:
    """A tenant configured with `config`, and a client with a token that sends its events."""
    path = log_dir() / f"tenant-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config))  # JSON is YAML
    tenant_id = cli(made.env, "tenant", "create", "--config", str(path))
    token = cli(made.env, "token", "create", "--tenant", tenant_id, "--permissions",
                "events.write")
    return tenant_id, httpx.Client(base_url=made.url, timeout=60,
                                   headers={"Authorization": f"Bearer {token}"})


def send(client: httpx.Client, tenant_id: str, events: list[dict[str, Any]]) -> None:
    """One intake request."""
    response = client.post(f"/platform/{tenant_id}/events", json={"events": events})
    if response.status_code != 202:
        raise BenchError(f"intake answered {response.status_code}: {response.text[:300]}")


def ready_documents(db: sa.Engine, tenant_id: str, reference_type: str) -> int:
    """How many of the tenant's documents jobs of `reference_type` have finished."""
    with db.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM jobs WHERE tenant = :tenant AND kind = 'documents' "
            "AND reference_type = :type AND status = 'finished'"),
            {"tenant": tenant_id, "type": reference_type}).scalar_one())


def quote_ready_after(made: Product, db: sa.Engine, client: httpx.Client, tenant_id: str,
                      number: int) -> float:
    """Send one priced quote; the seconds until its documents job has finished."""
    locator = quote(number)["locator"]
    query = sa.text("SELECT status FROM jobs WHERE tenant = :tenant AND kind = 'documents' "
                    "AND reference_type = 'quote' AND reference_locator = :locator")
    began = time.perf_counter()
    send(client, tenant_id, [quote(number)])
    while True:
        with db.connect() as conn:
            status = conn.execute(query, {"tenant": tenant_id, "locator": locator}).scalar()
        if status == "finished":
            return time.perf_counter() - began
        if status == "failed":
            raise BenchError(f"the documents job of {locator} failed")
        if time.perf_counter() - began > 300:
            raise BenchError(f"{locator}'s PDF was not ready within 300 s")
        made.check()
        time.sleep(0.02)


def neighbour(store: str, server: PostgresServer, round_: int,
              args: argparse.Namespace) -> dict[str, Any]:
    """Tenant A's burst of quotes, then tenant B's one."""
    with product(store, server, f"neighbour_{round_}", args.workers) as made:
        db = sa.create_engine(made.env["POLICYJOBS_DATABASE_URL"])
        a, a_client = tenant(made, QUOTE_CONFIG)
        b, b_client = tenant(made, QUOTE_CONFIG)
        try:
            for start in range(0, args.burst, BATCH):
                send(a_client, a, [quote(n) for n in range(start, min(start + BATCH, args.burst))])
            seconds = quote_ready_after(made, db, b_client, b, args.burst)
            a_ready = ready_documents(db, a, "quote")
        finally:
            a_client.close()
            b_client.close()
            db.dispose()
    say(f"round {round_}, neighbour on {store}: B's PDF in {seconds:.2f} s, "
        f"with {a_ready} of A's {args.burst} ready")
    return {"store": store, "round": round_, "seconds": round(seconds, 3), "a_ready": a_ready}


@dataclass(frozen=True)
class Invoice:
    """A new invoice as invoicing tells the documents domain of it."""

    tenant: str
    context: dict[str, Any]
    created_by: str = NIL_UUID


def invoice(number: int) -> dict[str, Any]:
    """An invoice of ten monthly installments."""
    items = [{"installmentLocator": f"N-{number}-{i}", "amount": "100.00"} for i in range(10)]
    return {"locator": f"I-{number}", "accountLocator": f"A-{number}", "currency": "USD",
            "dueTime": "2027-02-01T05:00:00Z", "totalAmount": "1000.00", "items": items}


def priority(store: str, server: PostgresServer, round_: int,
             args: argparse.Namespace) -> dict[str, Any]:
    """A tenant's nightly batch of invoice documents, then its own quote."""
    documents: dict[str, Any] = QUOTE_CONFIG["documents"]
    config = {"documents": {**documents,
                            "definitions": [*documents["definitions"], INVOICE_DOCUMENT]}}
    with product(store, server, f"priority_{round_}", args.workers) as made:
        db = sa.create_engine(made.env["POLICYJOBS_DATABASE_URL"])
        owner, client = tenant(made, config)
        runtime = build_runtime(Settings(database_url=made.env["POLICYJOBS_DATABASE_URL"],
                                         home=log_dir() / f"home-priority-{round_}-bench"),
                                apply_migrations=False)
        try:
            for start in range(0, args.burst, 100):  # as a generation run commits its invoices
                with runtime.db.begin() as conn:
                    on_invoices_made(conn, runtime.queue, [
                        Invoice(owner, invoice(n)) for n in range(start, min(start + 100,
                                                                             args.burst))])
            seconds = quote_ready_after(made, db, client, owner, 0)
            invoices_ready = ready_documents(db, owner, "invoice")
        finally:
            runtime.close()
            client.close()
            db.dispose()
    say(f"round {round_}, priority on {store}: the quote's PDF in {seconds:.2f} s, "
        f"with {invoices_ready} of {args.burst} invoice PDFs ready")
    return {"store": store, "round": round_, "seconds": round(seconds, 3),
            "invoices_ready": invoices_ready}


# -- cost: the engine's throughput before and after ------------------------------------------------


def before_commit(requested: str | None) -> str:
    """The commit to compare with: `requested`, else the parent of the commit that brought
    the fair claims in."""
    if requested:
        return _git("rev-parse", "--verify", f"{requested}^{{commit}}")
    added = _git("log", "--diff-filter=A", "--format=%H", "--",
                 "policyjobs/engine/fairness.py").split()
    if not added:
        raise BenchError("no commit brings in policyjobs/engine/fairness.py: name one with "
                         "--before")
    return _git("rev-parse", f"{added[-1]}^")


def _git(*argv: str) -> str:
    """`git` in this tree, its output; a clear error where it fails (not a git checkout,
    no such commit)."""
    done = subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise BenchError(f"the cost compares commits of {REPO}'s git history: git "
                         f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """A checkout of `commit` beside this run's logs, removed on the way out."""
    path = log_dir() / f"before-{commit[:8]}"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), commit],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
                       check=False, capture_output=True)


ENGINE_FIGURES = ("pg_jobs_per_s", "default_jobs_per_s", "sqlite_jobs_per_s",
                  "sqlite_default_jobs_per_s", "pg_drain_jobs_per_s", "idle_p50_ms",
                  "idle_p99_ms", "sqlite_idle_p50_ms", "sqlite_idle_p99_ms")


def engine_run(tree: Path, jobs: int) -> dict[str, Any]:
    """`bench.engine` at its quick settings, from `tree`, on its own; its figures."""
    argv = [PYTHON, "-m", "bench.engine", "--quick", "--jobs", str(jobs), "--only",
            "pg,sqlite"]
    done = subprocess.run(argv, cwd=tree, env=clean_env(PYTHONPATH=str(tree)),
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise BenchError(f"bench.engine in {tree} failed: {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: figures.get(name) for name in ENGINE_FIGURES}


def cost(args: argparse.Namespace) -> dict[str, Any]:
    """This tree's engine against the commit before, interleaved."""
    commit = before_commit(args.before)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with worktree(commit) as old:
        trees = {"before": old, "after": REPO}
        for round_ in range(1, args.rounds + 1):
            order = ["before", "after"] if round_ % 2 else ["after", "before"]
            for which in order:
                say(f"round {round_}, cost: bench.engine from {which} "
                    f"({commit[:8] if which == 'before' else 'this tree'})")
                runs[which].append(engine_run(trees[which], args.engine_jobs))
                say(f"  -> {runs[which][-1]}")
    found: dict[str, Any] = {"before_commit": commit, "runs": runs}
    for name in ENGINE_FIGURES:
        before = [r[name] for r in runs["before"]]
        after = [r[name] for r in runs["after"]]
        ratios = [a / b for a, b in zip(after, before, strict=True) if a and b]
        found[name] = {
            "before": _median(before), "after": _median(after),
            "ratio": round(statistics.median(ratios), 3) if ratios else None}
    return found


def _median(values: list[Any]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


# -- the report ------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every round of every measure on both stores, then the cost; the figures."""
    if "cost" in args.only:  # named before the other measures' ten minutes, not after
        args.before = before_commit(args.before)
    server = start_postgres(durable=True)
    memory = memory_meter(server)
    try:
        figures: dict[str, Any] = {
            "rounds": args.rounds, "backlog": args.backlog, "seconds": args.seconds,
            "burst": args.burst, "workers": args.workers, "machine": machine(server)}
        measures: dict[str, Callable[..., dict[str, Any]]] = {
            name: measure for name, measure in (
                ("fair", fair), ("neighbour", neighbour), ("priority", priority))
            if name in args.only}
        found: dict[str, list[dict[str, Any]]] = {name: [] for name in measures}
        if unknown := args.only - set(MEASURES):
            raise BenchError(f"no measure called {', '.join(sorted(unknown))}")
        for round_ in range(1, args.rounds + 1):
            stores = STORES if round_ % 2 else STORES[::-1]
            for name, measure in measures.items():
                for store in stores:
                    found[name].append(measure(store, server, round_, args))
        figures |= memory.stop()
        figures |= headline(found)
        figures["runs"] = found
    finally:
        server.stop()
    if "cost" in args.only:
        figures["cost"] = cost(args)
    figures["machine"]["loadavg_end"] = loadavg()
    print_report(figures)
    return figures


def headline(found: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each figure's median round, by store, and the worse store's."""
    out: dict[str, Any] = {}
    for figure, measure, key in (("fair_p50_ms", "fair", "p50_ms"),
                                 ("fair_p99_ms", "fair", "p99_ms"),
                                 ("a_jobs_per_s", "fair", "a_jobs_per_s"),
                                 ("neighbour_quote_s", "neighbour", "seconds"),
                                 ("priority_quote_s", "priority", "seconds")):
        by_store = {store: _median([r[key] for r in found.get(measure, [])
                                    if r["store"] == store]) for store in STORES}
        out[figure] = by_store
    return out


def print_report(figures: dict[str, Any]) -> None:
    """The table, on stdout, before the JSON line."""
    m = figures["machine"]
    print(f"policyjobs fairness benchmark, {m['date']} (commit {m['commit']}): {m['nproc']} "
          f"cores, {m['memory']}, {m['postgres']}, Python {m['python']}, "
          f"load {m['loadavg_start']} -> {m['loadavg_end']}")
    print(f"{figures['rounds']} rounds; {figures['workers']} worker processes; A's backlog "
          f"{figures['backlog']:,} for {figures['seconds']} s; bursts of {figures['burst']:,}")
    print()
    print(f"{'median round':<40}{'PostgreSQL':>14}{'SQLite':>14}{'target':>12}")
    for figure, label, target in (("fair_p50_ms", "B-E enqueue→start p50, ms", ""),
                                  ("fair_p99_ms", "B-E enqueue→start p99, ms", "< 100"),
                                  ("a_jobs_per_s", "A's jobs/s meanwhile", ""),
                                  ("neighbour_quote_s", "B's quote PDF behind A's burst, s",
                                   "< 5"),
                                  ("priority_quote_s", "a quote PDF behind its own batch, s",
                                   "< 5")):
        values = figures[figure]
        print(f"{label:<40}{values['postgresql']!s:>14}{values['sqlite']!s:>14}{target:>12}")
    if "cost" in figures:
        cost_ = figures["cost"]
        print()
        print(f"engine, this tree against {cost_['before_commit'][:8]} (median of "
              f"{figures['rounds']} interleaved rounds)")
        print(f"{'figure':<28}{'before':>12}{'after':>12}{'ratio':>9}")
        for name in ENGINE_FIGURES:
            row = cost_[name]
            print(f"{name:<28}{row['before']!s:>12}{row['after']!s:>12}{row['ratio']!s:>9}")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.fairness [options]`."""
    parser = argparse.ArgumentParser(prog="bench/run fairness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--backlog", type=int, default=10_000,
                        help="tenant A's due no-op jobs, kept topped up (10,000)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="how long B-E send their jobs (10)")
    parser.add_argument("--burst", type=int, default=2_000,
                        help="A's quotes, and the nightly batch's invoice documents (2,000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--engine-jobs", type=int, default=100_000,
                        help="jobs a run of the cost's engine bench (100,000)")
    parser.add_argument("--before", help="the commit to compare the engine with "
                                         "(default: the one before fair claims)")
    parser.add_argument("--only", type=lambda text: set(text.split(",")), default=set(MEASURES),
                        help="comma-separated measures to run (fair,neighbour,priority,cost)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the run's directory")
    return figures_of(run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
