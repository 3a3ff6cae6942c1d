"""`bench/run year [--policies N] [--workers W] [...]`: a year of billing on the test clock.

N policies (10,000) over three fifths as many accounts are quoted and issued through intake,
on monthly, quarterly and full-pay plans with terms starting over three months; then the test
clock walks the year a fortnight at a time. At each step the platform (this program) pays
what its accounts would have paid by then: most before the due time, a tenth of the accounts
after it (a delinquency that settles in grace), a twentieth never (a delinquency whose
reminder notice is rendered and which lapses); a twentieth pay 10.00 more than they owe and
a fiftieth send each payment twice (credit that their next invoices use). A fiftieth of the
policies are cancelled mid-term, at a time that cuts a frame, each a fortnight before it
takes effect, often after its next invoice was made (which is credited back), and a third
of those cancellations are reversed a fortnight later (the policy reinstated). Everything
runs on PostgreSQL with fsync on: `policyjobs serve --no-worker` (two processes) takes the
events, sent four batches at a time, and W `policyjobs worker` processes run the jobs:
lattices, installments, invoice generation, delinquencies, their events and notices.

Invoice notices as PDFs are left out: some 100,000 invoices a year would take hours to render
on two cores; `bench/run documents` measures rendering.

At the end the books are checked (`bench/books.py`): every installment due by then invoiced,
and once; every invoice's total the sum of its items; every invoice still unpaid past its due
time delinquent; no cancelled policy billed for cover after its cancellation, every
reinstated one billed its whole premium; every account's payments what settled its invoices
plus its credit; no job failed or left behind. The wall
time is split by what the driver waited for, beside the CPU seconds of each kind of process.
The last line of stdout is a JSON object with `policies`, `wall_s`, `jobs_per_s` and
`books_balanced`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.books import books, files_written_twice
from bench.common import (
    BenchError,
    CpuMeter,
    MemoryMeter,
    Workers,
    clean_env,
    log_dir,
    machine,
    postgres_processes,
    postmaster,
    remove_log_dir,
    say,
)
from bench.documents import POLICYJOBS, cli, wait_up
from policyjobs.demo.book import (
    TIMEZONE,
    Account,
    Midterm,
    Payer,
    Policy,
    issuance_event,
    midterm_event,
    quote_event,
    reversal_event,
)
from policyjobs.testing.postgres import PostgresServer, free_port, start_postgres
from policyjobs.testing.processes import children_of

CONFIG = """
timezone: America/New_York
currency: USD
defaultInstallmentPlan: monthly
installmentPlans:
  monthly: {cadence: monthly, maxInstallmentsPerTerm: 12, generateLeadDays: 15, dueLeadDays: 0}
  quarterly: {cadence: quarterly, maxInstallmentsPerTerm: 4, generateLeadDays: 15,
              dueLeadDays: 0}
  fullPay: {cadence: fullPay, generateLeadDays: 15, dueLeadDays: 0}
invoicing:
  generateTimeOfDay: "02:00"
delinquency:
  gracePeriodDays: 30
  lapseTransactionType: lapse
  events:
    - name: reminder
      offsetBasis: gracePeriodStart
      offsetDays: 10
      notice: {staticName: reminder, name: Payment reminder, format: text,
               template: "Invoice {{ invoice.locator }} is overdue; pay it by
                          {{ delinquency.graceEndAt }} to keep your cover."}
"""
STEP = timedelta(days=14)  # under the invoices' 15 days of lead, so prompt payers are prompt
OVERPAID = Decimal("10.00")  # what overpaying accounts pay beyond what each invoice owes
BATCH = 500  # events per intake request
SENDERS = 4  # intake requests in flight at once, as a platform's many senders send them
PLANS = ("monthly", "monthly", "quarterly", "fullPay")


@dataclass(frozen=True)
class Book:
    """The accounts and their policies, the policies cancelled mid-term and those of them
    reinstated, and the accounts that pay more than they owe."""

    accounts: dict[str, Account]
    policies: list[Policy]
    cancellations: list[Midterm]
    reinstated: frozenset[str]  # policies whose cancellation is reversed a step later
    overpayers: frozenset[str]  # pay 10.00 more than each invoice owes
    double_payers: frozenset[str]  # send each payment twice

    @property
    def cancelled(self) -> dict[str, datetime]:
        """Each policy cancelled for good: its cancellation's effective time."""
        return {c.policy.locator: c.at for c in self.cancellations
                if c.policy.locator not in self.reinstated}

    @property
    def premiums_of_reinstated(self) -> dict[str, Decimal]:
        """Each reinstated policy's premium: all of it is billed in the end."""
        return {c.policy.locator: c.policy.premium for c in self.cancellations
                if c.policy.locator in self.reinstated}

    @property
    def last_day(self) -> datetime:
        """Every term over, and its last grace period too."""
        return max(p.end for p in self.policies) + timedelta(days=45)


def make_book(policies: int, start: datetime, seed: int = 2027) -> Book:
    """`policies` policies over three fifths as many accounts, starting on the 1st or 15th of
    the three months from `start`; a tenth of the accounts pay late and a twentieth never."""
    rng = random.Random(seed)
    count = max(policies * 3 // 5, 1)
    kinds = [Payer.LATE] * (count // 10) + [Payer.LAPSING] * (count // 20)
    kinds += [Payer.PROMPT] * (count - len(kinds))
    rng.shuffle(kinds)
    accounts = [Account(f"A-{n:05d}", payer) for n, payer in enumerate(kinds)]
    made = []
    for number in range(1, policies + 1):
        months, mid = divmod(rng.randrange(6), 2)
        term_start = start + relativedelta(months=months, days=14 * mid)
        made.append(Policy(number, accounts[(number - 1) % count], rng.choice(PLANS),
                           Decimal(rng.randrange(600, 2400, 12)), term_start,
                           term_start + relativedelta(years=1)))
    cancelled = rng.sample(made, max(policies // 50, 1))
    cancellations = [Midterm(p, "cancellation", p.start + timedelta(
        seconds=rng.randrange(20 * 86400, 340 * 86400))) for p in cancelled]
    reinstated = rng.sample(cancelled, max(len(cancelled) // 3, 1))
    prompt = [a.locator for a in accounts if a.payer is Payer.PROMPT]
    over = rng.sample(prompt, max(count // 20, 1))
    twice = rng.sample(sorted(set(prompt) - set(over)), max(count // 50, 1))
    return Book({a.locator: a for a in accounts}, made, cancellations,
                frozenset(p.locator for p in reinstated), frozenset(over), frozenset(twice))


class Chaos:
    """SIGKILLs of random workers and fast restarts of PostgreSQL, each soon after the clock
    moved at one of the year's steps, while that step's jobs run."""

    def __init__(self, workers: Workers, server: PostgresServer, *, kills: int, restarts: int,
                 steps: int, seed: int = 20) -> None:
        self.workers, self.server = workers, server
        self.rng = random.Random(seed)
        self.kills_at = Counter(self.rng.randrange(1, steps) for _ in range(kills))
        self.restarts_at = set(self.rng.sample(range(1, steps), min(restarts, steps - 1)))
        self.done = Counter[str]()

    def strike(self, step: int) -> threading.Thread:
        """What was planned for `step`, in a thread of its own."""

        def hit() -> None:
            time.sleep(self.rng.uniform(0.05, 0.5))
            for _ in range(self.kills_at[step]):
                index = self.rng.randrange(len(self.workers.procs))
                killed = self.workers.kill_and_replace(index)
                self.done["workers killed"] += 1
                say(f"step {step}: SIGKILL worker {killed}; a new one starts in its place")
            if step in self.restarts_at:
                say(f"step {step}: PostgreSQL fast shutdown, then start")
                self.server.halt()
                time.sleep(1)
                self.server.resume()
                self.done["PostgreSQL restarts"] += 1

        thread = threading.Thread(target=hit, name=f"chaos-{step}", daemon=True)
        thread.start()
        return thread


class Year:
    """Drives the book through its year over `client` (an admin's token), retrying as a
    platform would while the service answers 503 or cannot be reached."""

    def __init__(self, client: httpx.Client, db: sa.Engine, tenant: str, book: Book,
                 processes: list[Workers], chaos: Chaos | None = None) -> None:
        self.client, self.db, self.tenant, self.book = client, db, tenant, book
        self.processes, self.chaos = processes, chaos
        self.payments = Counter[str]()
        self.cancelling = sorted(book.cancellations, key=lambda c: c.at)
        self.reinstating: list[tuple[datetime, Midterm]] = []  # (when to send, cancellation)
        self.unavailable = 0  # answers of 503, or no answer, that were tried again
        self.after_step: Callable[[datetime], None] = lambda now: None  # told each move
        self._counting = threading.Lock()
        # Seconds of the wall time, by what the driver waited for.
        self.spent: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the time spent in the block to `name`."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name] += time.perf_counter() - began

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The request, tried again for up to two minutes while the service is unavailable;
        any other 5xx is a failure of the benchmark."""
        deadline = time.monotonic() + 120
        while True:
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code != 503:
                if response.status_code >= 500:
                    raise BenchError(f"{method} {path} answered {response.status_code}: "
                                     f"{response.text}")
                return response
            with self._counting:
                self.unavailable += 1
            if time.monotonic() > deadline:
                raise BenchError(f"{method} {path}: the service was unavailable for 120 s")
            wait = response.headers.get("Retry-After", "1") if response is not None else "1"
            time.sleep(min(float(wait) if wait.isdigit() else 1.0, 5.0))

    def steps(self, now: datetime) -> int:
        """How many times the clock moves from `now`."""
        return int((self.book.last_day - now) / STEP) + 1

    def run(self, now: datetime) -> datetime:
        """Open the book, then walk the clock to its last day; the clock's last reading."""
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(f"quoting and issuing {len(self.book.policies):,} "
                                     "policies", total=self.steps(now) + 1)
            with self.phase("intake: quotes and issuances"):
                self.send([quote_event(p) for p in self.book.policies])
                self.send([issuance_event(p) for p in self.book.policies])
            with self.phase("jobs: lattices"):
                self.idle()
            progress.advance(task)
            step = 0
            while now < self.book.last_day:
                now, step = min(now + STEP, self.book.last_day), step + 1
                progress.update(task, description=f"the year: {now.date().isoformat()}")
                self.move_clock(now, step)
                self.reinstate(now)
                self.cancel(now)
                self.pay(now)
                self.after_step(now)
                progress.advance(task)
        return now

    def send(self, events: list[dict[str, Any]]) -> None:
        """The events in batches, SENDERS at a time; every event has an eventId, so one sent
        again after a lost answer is taken once."""
        def post(batch: list[dict[str, Any]]) -> None:
            response = self.call("POST", f"/platform/{self.tenant}/events", json={"events": batch})
            if response.status_code != 202:
                raise BenchError(f"intake answered {response.status_code}: {response.text}")

        with ThreadPoolExecutor(SENDERS, thread_name_prefix="sender") as senders:
            list(senders.map(post, [events[i:i + BATCH] for i in range(0, len(events), BATCH)]))

    def idle(self) -> None:
        """Until no job runs and none is due, for 20 minutes at most."""
        for _ in range(20):
            for process in self.processes:
                process.check()
            if self.call("GET", "/admin/idle", params={"timeout": 60}).json()["idle"]:
                return
        raise BenchError("the jobs did not drain in 20 minutes")

    def move_clock(self, now: datetime, step: int) -> None:
        response = self.call("PUT", "/admin/clock", json={"now": now.isoformat()})
        if response.status_code != 200:
            raise BenchError(f"moving the clock answered {response.status_code}")
        strike = self.chaos.strike(step) if self.chaos else None
        with self.phase("jobs: after the clock moved"):
            self.idle()
            if strike is not None:
                strike.join()
                self.idle()

    def cancel(self, now: datetime) -> None:
        """The cancellations that take effect within a fortnight, as the platform issues them."""
        due = [c for c in self.cancelling if c.at - STEP <= now]
        if due:
            self.cancelling = self.cancelling[len(due):]
            with self.phase("intake: cancellations"):
                self.send([midterm_event(c) for c in due])
            with self.phase("jobs: after cancellations"):
                self.idle()
            self.payments["cancellations"] += len(due)
            self.reinstating += [(now + STEP, c) for c in due
                                 if c.policy.locator in self.book.reinstated]

    def reinstate(self, now: datetime) -> None:
        """The reversals of the cancellations sent a step ago whose policies are reinstated."""
        due = [c for at, c in self.reinstating if at <= now]
        if due:
            self.reinstating = [(at, c) for at, c in self.reinstating if at > now]
            with self.phase("intake: cancellations"):
                self.send([reversal_event(c) for c in due])
            with self.phase("jobs: after cancellations"):
                self.idle()
            self.payments["reinstatements"] += len(due)

    def pay(self, now: datetime) -> None:
        """Each account pays the open invoices it would have paid by `now`, as a platform
        reports payments: one event each, in batches."""
        with self.phase("payments: finding what is due"), self.db.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT locator, account_locator, due_time, total::numeric - paid::numeric, "
                "currency FROM invoices WHERE tenant = :t AND state = 'open' "
                "AND total::numeric > 0"), {"t": self.tenant}).all()
        events = []
        for locator, account, due, remaining, currency in rows:
            if not self.book.accounts[account].pays(0, due, now):
                continue
            amount = remaining + (OVERPAID if account in self.book.overpayers else 0)
            payment = {"type": "payment", "eventId": f"pay-{locator}",
                       "invoiceLocator": locator, "amount": str(amount), "currency": currency}
            events.append(payment)
            if account in self.book.double_payers:  # the second to a settled invoice
                events.append({**payment, "eventId": f"pay-{locator}-again"})
                self.payments["sent twice"] += 1
            self.payments["late" if now > due else "on time"] += 1
            if account in self.book.overpayers:
                self.payments["overpaid"] += 1
        if events:
            with self.phase("intake: payments"):
                self.send(events)
            with self.phase("jobs: after payments"):
                self.idle()


def tallies(db: sa.Engine, tenant: str) -> dict[str, dict[str, int]]:
    """Jobs by kind, and the artifacts of the year."""
    with db.connect() as conn:
        kinds: dict[str, int] = dict(conn.execute(sa.text(
            "SELECT kind, count(*) FROM jobs WHERE tenant = :t GROUP BY kind ORDER BY kind"),
            {"t": tenant}).all())
        again = conn.execute(sa.text("SELECT count(*) FROM jobs WHERE tenant = :t "
                                     "AND attempt > 1"), {"t": tenant}).scalar()
        made = {table: conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE tenant = :t"),
                                    {"t": tenant}).scalar()
                for table in ("installment_lattices", "installments", "invoices",
                              "invoice_payments", "delinquencies", "delinquency_events",
                              "documents")}
    return {"jobs": {k: int(v) for k, v in kinds.items()},
            "made": {k: int(v or 0) for k, v in made.items()},
            "again": {"jobs run more than once": int(again or 0)}}


def run(args: argparse.Namespace, server: PostgresServer) -> dict[str, Any]:
    home = log_dir() / "home"
    env = clean_env(POLICYJOBS_DATABASE_URL=server.create_database("year"),
                    POLICYJOBS_HOME=str(home), POLICYJOBS_LOG_LEVEL="warning",
                    POLICYJOBS_TEST_CLOCK="true", POLICYJOBS_LEASE=args.lease,
                    POLICYJOBS_CONCURRENCY=str(args.concurrency))
    cli(env, "migrate")
    config = log_dir() / "tenant.yaml"
    config.write_text(CONFIG)
    tenant = cli(env, "tenant", "create", "--config", str(config))
    token = cli(env, "token", "create", "--tenant", tenant, "--permissions", "admin")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = Workers("year-api", [POLICYJOBS, "serve", "--no-worker", "--port", str(port),
                               "--processes", str(args.api_processes)], env, 1)
    pool = Workers("year-worker", [POLICYJOBS, "worker"], env, args.workers)
    db = sa.create_engine(env["POLICYJOBS_DATABASE_URL"], pool_pre_ping=True)
    try:
        wait_up(url, api)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=120) as client:
            now = datetime.fromisoformat(client.get("/admin/clock").json()["now"])
            local = now.astimezone(TIMEZONE)
            start = (local + relativedelta(months=1)).replace(day=1, hour=0, minute=0,
                                                              second=0, microsecond=0)
            book = make_book(args.policies, start)
            year = Year(client, db, tenant, book, [api, pool])
            if args.kills or args.restarts:
                year.chaos = Chaos(pool, server, kills=args.kills, restarts=args.restarts,
                                   steps=year.steps(now))
            say(f"{args.policies:,} policies over {len(book.accounts):,} accounts, from "
                f"{start.date()} to {book.last_day.date()}, {args.workers} worker processes")
            memory = MemoryMeter({
                "api": lambda: [p for pid in api.pids for p in (pid, *children_of(pid))],
                "worker": lambda: pool.pids,
                "renderer": lambda: [p for pid in pool.pids for p in children_of(pid)],
                "postgres": lambda: postgres_processes(postmaster(server))},
                every=10)  # each sample costs the driver's core some 90 ms at 1 s apart
            memory.snapshot("start")
            first_month = start + relativedelta(months=1)

            def note_first_month(moved: datetime) -> None:
                if moved >= first_month and "first_month" not in memory.snapshots:
                    memory.snapshot("first_month")

            year.after_step = note_first_month
            began = time.perf_counter()
            workers_cpu = CpuMeter(lambda: pool.pids, postmaster(server))
            api_cpu = CpuMeter(lambda: [p for pid in api.pids for p in (pid, *children_of(pid))],
                               None)  # with its server processes
            now = year.run(now)
            wall = time.perf_counter() - began
            workers_s, postgres_s, driver_s = workers_cpu.stop()
            memory.snapshot("end")
            rss = memory.stop()
            cpu: dict[str, float | None] = {"workers": workers_s, "api": api_cpu.stop()[0],
                                            "postgres": postgres_s, "driver": driver_s}
            if year.chaos and year.chaos.done["workers killed"]:
                cpu["workers"] = None  # a killed worker took its count with it
            if year.chaos and year.chaos.done["PostgreSQL restarts"]:
                cpu["postgres"] = None  # the meter knew the postmaster the restart replaced
        found = tallies(db, tenant)
        wrong = books(db, tenant, now.astimezone(UTC), book.cancelled,
                      book.premiums_of_reinstated)
        wrong["files written twice"] = files_written_twice(db, tenant, home)
    finally:
        db.dispose()
        pool.stop()
        api.stop()
    jobs = sum(found["jobs"].values())
    return {
        "policies": args.policies, "workers": args.workers,
        "api_processes": args.api_processes, "concurrency": args.concurrency,
        "wall_s": round(wall, 1),
        "jobs": jobs, "jobs_per_s": round(jobs / wall, 1),
        "jobs_per_s_by_kind": {k: round(v / wall, 1) for k, v in found["jobs"].items()},
        "jobs_by_kind": found["jobs"], "made": found["made"],
        "payments": dict(year.payments), "books": wrong,
        "chaos": dict(year.chaos.done) if year.chaos else {},
        "jobs_run_more_than_once": found["again"]["jobs run more than once"],
        "requests_tried_again": year.unavailable,
        "books_balanced": not any(wrong.values()),
        "wall_s_by_phase": {k: round(v, 1) for k, v in year.spent.items()},
        "cpu_s": {k: None if v is None else round(v, 1) for k, v in cpu.items()},
        "invoice_pdfs": "left to bench/run documents",
        **rss,
        "rss_mb_at": memory.snapshots,
        "worker_rss_growth": _growth(memory.snapshots, "worker"),
    }


def _growth(snapshots: dict[str, dict[str, float]], kind: str) -> float | None:
    """How much `kind`'s summed RSS grew from the end of the year's first month to its end
    (1.0: not at all), or None if a kind's process was killed and replaced meanwhile."""
    first, end = snapshots.get("first_month", {}).get(kind), snapshots.get("end", {}).get(kind)
    return round(end / first, 3) if first and end else None


def print_report(figures: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"A year of billing: {figures['policies']:,} policies, "
                        f"{figures['workers']} worker processes, {figures['wall_s']:,} s")
    for column in ("job kind", "jobs", "jobs/s"):
        table.add_column(column, justify="left" if column == "job kind" else "right")
    for kind, count in figures["jobs_by_kind"].items():
        table.add_row(kind, f"{count:,}", f"{figures['jobs_per_s_by_kind'][kind]:,}")
    table.add_row("all", f"{figures['jobs']:,}", f"{figures['jobs_per_s']:,}")
    console.print(table)
    console.print("made: " + ", ".join(f"{v:,} {k}" for k, v in figures["made"].items()))
    console.print("payments: " + ", ".join(f"{v:,} {k}" for k, v in figures["payments"].items()))
    if figures["chaos"]:
        console.print("chaos: " + ", ".join(f"{v} {k}" for k, v in figures["chaos"].items())
                      + f"; {figures['jobs_run_more_than_once']} jobs ran more than once; "
                      f"{figures['requests_tried_again']} requests met 503 or no answer "
                      "and were tried again")
    console.print("wall time by what it waited for: " + ", ".join(
        f"{k} {v:,} s" for k, v in figures["wall_s_by_phase"].items()))
    unmetered = {"workers": "a worker was killed", "postgres": "it was restarted"}
    console.print("CPU seconds: " + ", ".join(
        f"{k} {v:,}" if v is not None else f"{k} not metered ({unmetered[k]})"
        for k, v in figures["cpu_s"].items())
        + f" (of {figures['machine']['nproc'] * figures['wall_s']:,.0f} the cores had)")
    memory = [f"{kind} {figures[f'{kind}_rss_mb']} ({figures[f'{kind}_total_pss_rss_mb']})"
              for kind in ("api", "worker", "renderer", "postgres")]  # None: none ran
    console.print("memory, MiB (largest process's peak RSS; the kind's peak summed PSS): "
                  + ", ".join(memory)
                  + f"; workers' RSS from the first month's end to the year's: "
                  f"{figures['worker_rss_growth']}x ({figures['rss_mb_at']})")
    console.print("books: " + ("balanced" if figures["books_balanced"] else "NOT balanced")
                  + "; " + ", ".join(f"{k}: {v}" for k, v in figures["books"].items()))
    console.print("Invoice notices as PDFs are left out: at some 100,000 invoices a year they "
                  "would take hours on two cores; bench/run documents measures rendering.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run year", description=__doc__.split("\n")[0])
    parser.add_argument("--policies", type=int, default=10_000, help="policies (10,000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="handler threads of each worker (8, the product's default)")
    parser.add_argument("--api-processes", type=int, default=2,
                        help="processes of `policyjobs serve --no-worker` (2, one per core)")
    parser.add_argument("--kills", type=int, default=0,
                        help="SIGKILLs of a random worker during the year (0)")
    parser.add_argument("--restarts", type=int, default=0,
                        help="fast restarts of PostgreSQL during the year (0)")
    parser.add_argument("--lease", default="30s",
                        help="the workers' lease: how soon a killed worker's jobs return (30s)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = parser.parse_args(argv)
    server = start_postgres(durable=True)
    try:
        figures = {"machine": machine(server), **run(args, server)}
    finally:
        server.stop()
        if not args.keep_logs:
            remove_log_dir()
    print_report(figures)
    print(json.dumps(figures))
    return 0 if figures["books_balanced"] else 1


if __name__ == "__main__":
    sys.exit(main())
