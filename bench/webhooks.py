"""`bench/run webhooks`: events to signed deliveries at a local receiver, on both stores.

Each round, on PostgreSQL and on SQLite (alternating first), in a fresh store: one tenant,
`--workers` (2) `policyjobs worker` processes as a user starts them, and a receiver of its
own (`bench/webhook_receiver.py` under uvicorn, answering 204) on a loopback port.

- **throughput**: `--endpoints` (4) endpoints subscribed to every event; `--events`
  (2,500) events recorded in transactions of 100, as a burst of changes records them; the
  clock runs from the first transaction until the receiver has every delivery (events times
  endpoints): deliveries per second (`deliveries_per_s`).
- **latency**: one endpoint; events recorded one to a transaction at `--rate` (200) a
  second for `--seconds` (10): from each event's time (taken in the transaction that
  records it) to its arrival at the receiver, p50 and p99 (`latency_p99_ms`).

Every delivery is the product's: read, signed (HMAC-SHA256), POSTed over HTTP/1.1 and
recorded as an attempt. The last line of stdout is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
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
from bench.ours import OurStore
from policyjobs.app import build_runtime
from policyjobs.runtime import Runtime
from policyjobs.settings import Settings
from policyjobs.testing.postgres import PostgresServer, free_port, start_postgres
from policyjobs.webhooks import service
from policyjobs.webhooks.addresses import Rules
from policyjobs.webhooks.sealing import Sealer

KEY = "bench webhooks key"
STORES = ("postgresql", "sqlite")
BATCH = 100  # events a transaction in the burst
TYPE = "invoicing.invoice.generated"


def received(log: Path) -> list[tuple[str, str, float]]:
    """The receiver's lines: (path, event id, ms after the event)."""
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [(path, event, float(ms)) for path, event, ms in (line.split() for line in lines)
            if ms]


def wait_for(log: Path, count: int, workers: Workers, timeout: float) -> float:
    """Wait until the receiver has `count` deliveries; when it had them (perf counter).
    Only what the receiver appended since the last look is read: rereading the whole log
    every poll took the burst's CPU from the workers."""
    deadline = time.monotonic() + timeout
    seen, offset = 0, 0
    while True:
        if log.exists():
            with log.open("rb") as lines:
                lines.seek(offset)
                new = lines.read()
            complete = new[:new.rfind(b"\n") + 1]
            seen, offset = seen + complete.count(b"\n"), offset + len(complete)
        if seen >= count:
            return time.perf_counter()
        workers.check()
        if time.monotonic() > deadline:
            raise BenchError(f"the receiver got {seen} of {count} deliveries in "
                             f"{timeout:.0f} s")
        time.sleep(0.02)


def publish(runtime: Runtime, tenant: str, events: int) -> list[str]:
    """Record `events` events in one transaction."""
    with runtime.db.begin() as conn:
        return service.publish(conn, runtime.queue, tenant=tenant, at=runtime.clock.now(),
                               events=[service.Event(TYPE, {"invoiceLocator": f"I-{i}",
                                                            "accountLocator": "A-1"})
                                       for i in range(events)])


def one_round(store: str, server: PostgresServer, round_: int,
              args: argparse.Namespace) -> dict[str, Any]:
    """Both measures on one store, in a fresh store."""
    name = f"webhooks_{round_}"
    url = OurStore(store, server if store == "postgresql" else None).fresh(name)
    home = log_dir() / f"home-{name}-{store}"
    rules = Rules(allow_http=True, allow_private=True)
    runtime = build_runtime(Settings(database_url=url, home=home, secret_key=KEY,
                                     webhooks_allow_http=True, webhooks_allow_private=True))
    port = free_port()
    log = log_dir() / f"received-{name}-{store}.log"
    receiver = Workers(f"{store}-{name}-receiver", [
        PYTHON, "-m", "uvicorn", "bench.webhook_receiver:app", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log", "--lifespan", "off"],
        clean_env(RECEIVER_LOG=str(log)), 1)
    env = clean_env(POLICYJOBS_DATABASE_URL=url, POLICYJOBS_HOME=str(home),
                    POLICYJOBS_SECRET_KEY=KEY, POLICYJOBS_WEBHOOKS_ALLOW_HTTP="1",
                    POLICYJOBS_WEBHOOKS_ALLOW_PRIVATE="1", POLICYJOBS_LOG_LEVEL="warning")
    workers = Workers(f"{store}-{name}", [PYTHON, "-m", "policyjobs", "worker"], env,
                      args.workers)
    try:
        tenant = runtime.create_tenant(runtime.tenant_configs.load(""))
        keys = service.Keys(Sealer.of(KEY, home), rules)
        with runtime.db.begin() as conn:
            endpoints = [service.create(conn, keys, tenant=tenant,
                                        url=f"http://127.0.0.1:{port}/e{i}", event_types=[],
                                        description="", created_by=tenant,
                                        now=runtime.clock.now())[0]
                         for i in range(args.endpoints)]
        time.sleep(3)  # the workers and the receiver start
        workers.check()
        receiver.check()
        began = time.perf_counter()
        for first in range(0, args.events, BATCH):
            publish(runtime, tenant, min(BATCH, args.events - first))
        deliveries = args.events * args.endpoints
        ended = wait_for(log, deliveries, workers, timeout=300)
        rate = deliveries / (ended - began)
        say(f"round {round_}, {store}: {deliveries:,} deliveries in {ended - began:.1f} s, "
            f"{rate:,.0f}/s")
        with runtime.db.begin() as conn:
            for endpoint in endpoints[1:]:
                service.delete(conn, tenant=tenant, locator=endpoint)
        burst = len(received(log))
        sent, tick = 0, 1 / args.rate
        start = time.perf_counter()
        while time.perf_counter() < start + args.seconds:
            publish(runtime, tenant, 1)
            sent += 1
            time.sleep(max(start + sent * tick - time.perf_counter(), 0))
        wait_for(log, burst + sent, workers, timeout=120)
        samples = [ms for _, _, ms in received(log)[burst:]]
    finally:
        workers.stop()
        receiver.stop()
        runtime.close()
    found = {"store": store, "round": round_, "deliveries_per_s": round(rate),
             "latency_p50_ms": round(percentile(samples, 50), 1),
             "latency_p99_ms": round(percentile(samples, 99), 1),
             "latency_samples": len(samples), "paced_per_s": round(sent / args.seconds)}
    say(f"round {round_}, {store}: {len(samples)} events at {found['paced_per_s']}/s, "
        f"p50 {found['latency_p50_ms']} ms, p99 {found['latency_p99_ms']} ms")
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every round on both stores; the figures."""
    server = start_postgres(durable=True)
    memory = memory_meter(server)
    try:
        figures: dict[str, Any] = {
            "rounds": args.rounds, "events": args.events, "endpoints": args.endpoints,
            "rate": args.rate, "seconds": args.seconds, "workers": args.workers,
            "machine": machine(server)}
        runs = []
        stores = [store for store in STORES if store in args.stores]
        for round_ in range(1, args.rounds + 1):
            for store in (stores if round_ % 2 else stores[::-1]):
                runs.append(one_round(store, server, round_, args))
        figures |= memory.stop()
    finally:
        server.stop()
    for figure in ("deliveries_per_s", "latency_p50_ms", "latency_p99_ms"):
        figures[figure] = {store: round(statistics.median(r[figure] for r in runs
                                                          if r["store"] == store), 1)
                           for store in stores}
    figures["runs"] = runs
    figures["machine"]["loadavg_end"] = loadavg()
    m = figures["machine"]
    print(f"policyjobs webhooks benchmark, {m['date']} (commit {m['commit']}): {m['nproc']} "
          f"cores, {m['memory']}, {m['postgres']}, Python {m['python']}, "
          f"load {m['loadavg_start']} -> {m['loadavg_end']}")
    print(f"{args.rounds} rounds; {args.workers} worker processes; burst of {args.events:,} "
          f"events to {args.endpoints} endpoints; then {args.rate}/s for {args.seconds} s")
    print()
    print(f"{'median round':<36}{'PostgreSQL':>14}{'SQLite':>14}{'target':>14}")
    for figure, label, target in (
            ("deliveries_per_s", "deliveries per second", ">= 1,000 (PG)"),
            ("latency_p50_ms", "change → receiver p50, ms", ""),
            ("latency_p99_ms", "change → receiver p99, ms", "< 1,000")):
        values = figures[figure]
        print(f"{label:<36}{values.get('postgresql', '')!s:>14}{values.get('sqlite', '')!s:>14}"
              f"{target:>14}")
    return figures


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.webhooks [options]`."""
    parser = argparse.ArgumentParser(prog="bench/run webhooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--events", type=int, default=2_500, help="events in the burst (2,500)")
    parser.add_argument("--endpoints", type=int, default=4,
                        help="endpoints the burst goes to (4)")
    parser.add_argument("--rate", type=int, default=200, help="events a second, paced (200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long they come (10)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES),
                        help="the stores to run on (both)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the run's directory")
    return figures_of(run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
