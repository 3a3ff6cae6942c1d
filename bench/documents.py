"""`bench/run documents [--quotes N] [--workers W]`: PDFs per second, end to end, vs WeasyPrint.

A tenant defines one PDF for a priced quote, a realistic one-page quote summary (a
header, the insured, a table of ten charges, a footer). N priced quotes
go through intake over HTTP, in batches of 50, as a platform sends a burst, and the
clock stops when the last documents job has finished:

- on PostgreSQL: `policyjobs serve --no-worker` takes the events and W `policyjobs worker`
  processes render them;
- on PostgreSQL with the files in a bucket: the same, with `POLICYJOBS_DOCUMENTS_URL` an
  `s3://` bucket of moto's S3 server (started by the benchmark, in a process of its own,
  on a loopback port), where the others write to the local disk;
- on SQLite: the default `policyjobs serve`, the API and the workers in one process.

After each run of ours every document is downloaded once through the API, one request at
a time: the p99 of a download (`download_p99_ms`), streamed from the disk or the bucket.

Every command runs as a user runs it, through the `policyjobs` console script. The
physical reference is WeasyPrint itself: the same template rendered by Jinja2 and turned
into a PDF in-process, in one process per core, N documents in all. The systems run in
`--rounds` interleaved rounds (3), each in a fresh store; the headline is each one's
median round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.common import (
    BenchError,
    KindCpu,
    Workers,
    bench_processes,
    clean_env,
    figures_of,
    loadavg,
    log_dir,
    machine,
    memory_meter,
    percentile,
    say,
)
from policyjobs.testing.postgres import PostgresServer, free_port, start_postgres
from policyjobs.testing.s3 import S3Server, s3_process

POLICYJOBS = str(Path(sys.executable).parent / "policyjobs")  # the console script
BATCH = 50
TEMPLATE = """
<style>
  @page { size: A4; margin: 2cm; @bottom-center { content: "Page " counter(page); } }
  body { font-family: sans-serif; font-size: 10pt; }
  h1 { font-size: 18pt; border-bottom: 2px solid #345; }
  table { width: 100%; border-collapse: collapse; margin-top: 1em; }
  td, th { border-bottom: 1px solid #ccc; padding: 4px; text-align: left; }
  td.amount, th.amount { text-align: right; }
  footer { margin-top: 2em; font-size: 8pt; color: #666; }
</style>
<h1>Quote {{ reference.locator }}</h1>
<p>Insured: <strong>{{ event.data.insured.name }}</strong>,
   {{ event.data.insured.address }}<br>
   Product: {{ event.productName }} &middot; account {{ event.accountLocator }}<br>
   Term: {{ event.term.startTime }} to {{ event.term.endTime }}</p>
<table>
  <tr><th>Charge</th><th>Type</th><th class="amount">Amount ({{ event.currency }})</th></tr>
  {% for charge in event.charges %}
  <tr><td>{{ charge.locator }}</td><td>{{ charge.chargeType }}</td>
      <td class="amount">{{ charge.amount }}</td></tr>
  {% endfor %}
</table>
<footer>This quote summary was issued by Example Mutual. It is not a policy. Coverage starts
only when the policy is issued and the first installment is paid.</footer>
"""
CONFIG = {"documents": {"timeoutSeconds": 120, "definitions": [
    {"staticName": "quoteSummary", "name": "Quote summary", "trigger": "priced",
     "scope": "quote", "format": "pdf", "template": TEMPLATE}]}}
CHARGES = ["premium", "premium", "premium", "fee", "tax", "tax", "surcharge", "discount",
           "fee", "premium"]


def quote(number: int) -> dict[str, Any]:
    """A priced quote with ten charges."""
    return {
        "type": "quote", "trigger": "priced", "locator": f"Q-{number}",
        "accountLocator": f"A-{number}", "productName": "homeowners", "currency": "USD",
        "term": {"startTime": "2027-01-01T05:00:00Z", "endTime": "2028-01-01T05:00:00Z"},
        "charges": [{"locator": f"C-{number}-{i}", "chargeType": kind,
                     "amount": f"{(i + 1) * 37}.{i:02d}"} for i, kind in enumerate(CHARGES)],
        "data": {"insured": {"name": f"Insured {number}",
                             "address": f"{number} Harbour Street, Portland, ME"}},
    }


@dataclass
class Run:
    """One system's drain of N documents."""

    system: str
    round: int
    docs: int
    seconds: float
    render_seconds: list[float] = field(default_factory=list)  # per job, claim to finish
    download_seconds: list[float] = field(default_factory=list)  # per file, through the API
    cpu: dict[str, float] = field(default_factory=dict)  # seconds by kind of process

    @property
    def docs_per_s(self) -> float:
        """Documents rendered per second."""
        return self.docs / self.seconds

    def as_json(self) -> dict[str, Any]:
        """The run as plain JSON values."""
        return {"system": self.system, "round": self.round, "docs": self.docs,
                "seconds": round(self.seconds, 2), "docs_per_s": round(self.docs_per_s, 2),
                "p99_render_s": round(percentile(self.render_seconds, 99), 3)
                if self.render_seconds else None,
                "download_p99_ms": round(percentile(self.download_seconds, 99) * 1000, 1)
                if self.download_seconds else None,
                "cpu_ms_per_doc": self.cpu_ms_per_doc}

    @property
    def cpu_ms_per_doc(self) -> dict[str, float]:
        """The CPU milliseconds per document of each kind of process that spent any."""
        return {kind: round(seconds * 1000 / self.docs, 1)
                for kind, seconds in self.cpu.items() if seconds}


# -- the physical reference -----------------------------------------------------------------------


def reference_child(count: int) -> None:
    """Render the quote summary `count` times in this process, after a warm-up; print the
    seconds, once the parent says go (a line on stdin)."""
    from policyjobs.documents.render import html_to_pdf, render_markup

    event = quote(0)
    context = {"event": event, "reference": {"type": "quote", "locator": "Q-0"}}
    html_to_pdf("warm-up", render_markup("quoteSummary", TEMPLATE, context, escape=True))
    print("ready", flush=True)
    sys.stdin.readline()
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        html_to_pdf("quoteSummary", render_markup("quoteSummary", TEMPLATE, context, escape=True))
    print(time.perf_counter() - began, time.process_time() - cpu, flush=True)


def reference(docs: int, processes: int, round_: int) -> Run:
    """WeasyPrint in-process, in `processes` processes, `docs` documents in all."""
    shares = [docs // processes + (1 if i < docs % processes else 0) for i in range(processes)]
    children = [subprocess.Popen([sys.executable, "-m", "bench.documents", "--reference-child",
                                  str(share)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, env=clean_env()) for share in shares]
    cores = sorted(os.sched_getaffinity(0))
    for i, child in enumerate(children):  # one core each, as a process per core would want
        os.sched_setaffinity(child.pid, {cores[i % len(cores)]})
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise BenchError("a reference process failed to start")
    began = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    cpu = 0.0
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode:
            raise BenchError(f"a reference process exited {child.returncode}")
        cpu += float(out.split()[-1])
    return Run("weasyprint", round_, docs, time.perf_counter() - began, cpu={"renderer": cpu})


# -- ours -----------------------------------------------------------------------------------------


def cli(env: dict[str, str], *args: str) -> str:
    """Run a `policyjobs` command; its stdout."""
    done = subprocess.run([POLICYJOBS, *args], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise BenchError(f"policyjobs {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def wait_up(url: str, api: Workers) -> None:
    """Until the API answers `/health`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        api.check()
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise BenchError("the API did not start within 60 s")


def finished(db: sa.Engine) -> tuple[int, int]:
    """(documents jobs ended, of them failed)."""
    with db.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT count(*), count(*) FILTER (WHERE status = 'failed') FROM jobs "
            "WHERE kind = 'documents' AND status IN ('finished', 'failed')")).one()
    return int(row[0]), int(row[1])


def durations(db: sa.Engine) -> list[float]:
    """Each documents job's seconds from its claim to its end."""
    with db.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT started_at, finished_at FROM jobs WHERE kind = 'documents'")).all()
    return [(_time(end) - _time(start)).total_seconds() for start, end in rows]


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def drain(system: str, round_: int, docs: int, env: dict[str, str], url: str,
          processes: list[Workers], server: PostgresServer | None, renderers: int) -> Run:
    """Create a tenant and a token with the CLI, send `docs` quotes to `url`, and wait for
    every documents job to end, pinning the `renderers` the workers start; the CPU of each
    kind of process over it (PostgreSQL's given `server`)."""
    config = log_dir() / "tenant.json"
    config.write_text(json.dumps(CONFIG))  # JSON is YAML
    tenant = cli(env, "tenant", "create", "--config", str(config))
    token = cli(env, "token", "create", "--tenant", tenant, "--permissions",
                "events.write,documents.read")
    db = sa.create_engine(env["POLICYJOBS_DATABASE_URL"])
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=60) as client:
            cpu = KindCpu(server)
            began = time.perf_counter()
            for start in range(0, docs, BATCH):
                batch = [quote(n) for n in range(start, min(start + BATCH, docs))]
                response = client.post(f"/platform/{tenant}/events", json={"events": batch})
                if response.status_code != 202:
                    raise BenchError(f"intake answered {response.status_code}: {response.text}")
        deadline = began + 900
        pinned: dict[int, int] = {}
        next_pin = 0.0
        while (done := finished(db))[0] < docs:
            for process in processes:
                process.check()
            if len(pinned) < renderers and time.perf_counter() > next_pin:
                pin_renderers(pinned)  # a pass over /proc: not on every poll
                next_pin = time.perf_counter() + 0.2
            if time.perf_counter() > deadline:
                raise BenchError(f"{system}: {done[0]} of {docs} documents jobs ended in 900 s")
            time.sleep(0.05)
        seconds = time.perf_counter() - began
        spent = cpu.stop()
        if done[1]:
            raise BenchError(f"{system}: {done[1]} documents jobs failed")
        run = Run(system, round_, docs, seconds, durations(db),
                  downloads(db, url, tenant, token), spent)
    finally:
        db.dispose()
    say(f"round {round_}, {system}: {docs} PDFs in {run.seconds:.1f} s, "
        f"{run.docs_per_s:.2f}/s; download p99 "
        f"{percentile(run.download_seconds, 99) * 1000:.1f} ms")
    return run


def pin_renderers(pinned: dict[int, int]) -> None:
    """Pin each renderer not yet seen to a core of its own, the next in turn, as the
    reference's processes are pinned: a renderer starts when its worker first needs it, so
    the wait loop looks for new ones (the clock's first poll finds those of a burst)."""
    cores = sorted(os.sched_getaffinity(0))
    for pid in bench_processes()["renderer"]:
        if pid not in pinned:
            core = cores[len(pinned) % len(cores)]
            try:
                os.sched_setaffinity(pid, {core})
            except ProcessLookupError:  # it ended meanwhile (recycled)
                continue
            pinned[pid] = core


def downloads(db: sa.Engine, url: str, tenant: str, token: str) -> list[float]:
    """Download every ready document's file through the API, one at a time; the seconds
    each took."""
    with db.connect() as conn:
        locators = conn.execute(sa.text(
            "SELECT locator FROM documents WHERE state = 'ready'")).scalars().all()
    took = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client:
        for locator in locators:
            began = time.perf_counter()
            answer = client.get(f"/document/{tenant}/documents/{locator}/document")
            took.append(time.perf_counter() - began)
            if answer.status_code != 200 or not answer.content.startswith(b"%PDF"):
                raise BenchError(f"download of {locator} answered {answer.status_code}")
    return took


def on_postgres(server: PostgresServer, docs: int, workers: int, round_: int, pin: bool,
                s3: S3Server | None = None) -> Run:
    """`serve --no-worker` takes the quotes, `workers` worker processes render them, into
    the home's folder or, given `s3`, a bucket of its own; their renderers pinned, if `pin`,
    a core each in turn."""
    system = "postgresql" if s3 is None else "postgresql+s3"
    home = log_dir() / f"{system}-{round_}"
    env = clean_env(POLICYJOBS_DATABASE_URL=server.create_database(
                        f"documents_{round_}{'_s3' if s3 else ''}"),
                    POLICYJOBS_HOME=str(home), POLICYJOBS_LOG_LEVEL="warning")
    if s3 is not None:
        bucket = s3.create_bucket(f"bench-documents-{round_}")
        env |= s3.env | {"POLICYJOBS_DOCUMENTS_URL": f"s3://{bucket}/documents"}
    cli(env, "migrate")
    port = free_port()
    api = Workers(f"{system}-api-{round_}",
                  [POLICYJOBS, "serve", "--no-worker", "--port", str(port)], env, 1)
    pool = Workers(f"{system}-worker-{round_}", [POLICYJOBS, "worker"], env, workers)
    try:
        wait_up(f"http://127.0.0.1:{port}", api)
        return drain(system, round_, docs, env, f"http://127.0.0.1:{port}", [api, pool],
                     server, workers * len(os.sched_getaffinity(0)) if pin else 0)
    finally:
        pool.stop()
        api.stop()


def on_sqlite(docs: int, round_: int, pin: bool) -> Run:
    """The default `policyjobs serve`: SQLite, the API and the workers in one process (its
    renderers pinned, if `pin`)."""
    home = log_dir() / f"sqlite-{round_}"
    env = clean_env(POLICYJOBS_HOME=str(home), POLICYJOBS_LOG_LEVEL="warning")
    env["POLICYJOBS_DATABASE_URL"] = f"sqlite:///{home / 'policyjobs.db'}"
    cli(env, "migrate")
    port = free_port()
    serve = Workers(f"sqlite-serve-{round_}", [POLICYJOBS, "serve", "--port", str(port)], env, 1)
    try:
        wait_up(f"http://127.0.0.1:{port}", serve)
        return drain("sqlite", round_, docs, env, f"http://127.0.0.1:{port}", [serve], None,
                     len(os.sched_getaffinity(0)) if pin else 0)
    finally:
        serve.stop()


# -- the report -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every round of every system, interleaved; the figures."""
    cores = len(os.sched_getaffinity(0))
    server = start_postgres(durable=True)
    try:
        with s3_process(log_dir() / "s3.log", clean_env()) as s3:
            memory = memory_meter(server)
            return _rounds(args, cores, server, s3) | memory.stop()
    finally:
        server.stop()


def _rounds(args: argparse.Namespace, cores: int, server: PostgresServer,
            s3: S3Server) -> dict[str, Any]:
    """The rounds, given the PostgreSQL server and the S3 one; the figures."""
    figures: dict[str, Any] = {"quotes": args.quotes, "workers": args.workers,
                               "rounds": args.rounds, "renderers_pinned": args.pin_renderers,
                               "machine": machine(server)}
    pin = args.pin_renderers
    systems: list[Callable[[int], Run]] = [
        lambda r: reference(args.quotes, cores, r),
        lambda r: on_postgres(server, args.quotes, args.workers, r, pin),
        lambda r: on_postgres(server, args.quotes, args.workers, r, pin, s3),
        lambda r: on_sqlite(args.quotes, r, pin),
    ]
    runs: list[Run] = []
    for round_ in range(1, args.rounds + 1):
        shift = (round_ - 1) % len(systems)  # each system goes first in some round
        for measure in systems[shift:] + systems[:shift]:
            runs.append(measure(round_))
    figures["machine"]["loadavg_end"] = loadavg()
    figures |= headline(runs)
    figures["runs"] = [r.as_json() for r in runs]
    print_report(figures, runs, cores)
    return figures


def headline(runs: list[Run]) -> dict[str, Any]:
    """The median round of each system, and ours against the reference."""

    def median(system: str) -> float:
        return statistics.median(r.docs_per_s for r in runs if r.system == system)

    def download_p99_ms(system: str) -> float:
        return round(statistics.median(percentile(r.download_seconds, 99) * 1000
                                       for r in runs if r.system == system), 1)

    pg, lite, reference_rate = median("postgresql"), median("sqlite"), median("weasyprint")
    s3 = median("postgresql+s3")
    ours = [r for r in runs if r.system in ("postgresql", "sqlite")]
    return {
        "pg_docs_per_s": round(pg, 2),
        "pg_s3_docs_per_s": round(s3, 2),
        "sqlite_docs_per_s": round(lite, 2),
        "weasyprint_docs_per_s": round(reference_rate, 2),
        "ratio_vs_weasyprint": round(max(pg, lite) / reference_rate, 3),
        "s3_ratio_vs_disk": round(s3 / pg, 3),
        "pg_download_p99_ms": download_p99_ms("postgresql"),
        "pg_s3_download_p99_ms": download_p99_ms("postgresql+s3"),
        "sqlite_download_p99_ms": download_p99_ms("sqlite"),
        "p99_render_s": round(percentile([s for r in ours for s in r.render_seconds], 99), 3),
    }


def print_report(figures: dict[str, Any], runs: list[Run], cores: int) -> None:
    """The table, on stdout, before the JSON line."""
    m = figures["machine"]
    print(f"policyjobs documents benchmark, {m['date']} (commit {m['commit']}): {m['nproc']} "
          f"cores, {m['memory']}, {m['postgres']}, Python {m['python']}, "
          f"load {m['loadavg_start']} -> {m['loadavg_end']}")
    print(f"{figures['quotes']} priced quotes, one PDF each; PostgreSQL with "
          f"{figures['workers']} worker processes; the reference in {cores} processes")
    print()
    print(f"{'system':<15}{'round':>6}{'seconds':>9}{'PDFs/s':>9}{'p99 job s':>11}"
          f"{'p99 download ms':>17}  CPU ms per PDF, by process")
    for r in runs:
        p99 = f"{percentile(r.render_seconds, 99):.2f}" if r.render_seconds else "-"
        down = (f"{percentile(r.download_seconds, 99) * 1000:.1f}" if r.download_seconds
                else "-")
        cpu = ", ".join(f"{kind} {ms:g}" for kind, ms in r.cpu_ms_per_doc.items())
        print(f"{r.system:<15}{r.round:>6}{r.seconds:>9.1f}{r.docs_per_s:>9.2f}{p99:>11}"
              f"{down:>17}  {cpu}")
    print()
    print(f"median round: PostgreSQL {figures['pg_docs_per_s']}/s, SQLite "
          f"{figures['sqlite_docs_per_s']}/s, WeasyPrint in-process "
          f"{figures['weasyprint_docs_per_s']}/s: {figures['ratio_vs_weasyprint']:.2f}x "
          "(target >= 0.8, goal 0.9)")
    print(f"files in a bucket: PostgreSQL {figures['pg_s3_docs_per_s']}/s, "
          f"{figures['s3_ratio_vs_disk']:.2f}x the local disk (target >= 0.8); p99 of a "
          f"download {figures['pg_s3_download_p99_ms']} ms from the bucket, "
          f"{figures['pg_download_p99_ms']} ms from the disk")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.documents [--quotes N] [--workers W] [--rounds R]`."""
    parser = argparse.ArgumentParser(prog="bench/run documents", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quotes", type=int, default=300, help="priced quotes per run (300)")
    parser.add_argument("--workers", type=int, default=2,
                        help="`policyjobs worker` processes on PostgreSQL (2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--pin-renderers", action="store_true",
                        help="pin our renderers a core each in turn, as the reference's "
                             "processes are (by default they run as deployed, unpinned)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the run's directory")
    parser.add_argument("--reference-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reference_child is not None:
        reference_child(args.reference_child)
        return 0
    return figures_of(run, args)


if __name__ == "__main__":
    raise SystemExit(main())
