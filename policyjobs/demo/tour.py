"""`policyjobs demo`: serve an embedded instance with the test clock, drive a tenant's book
through a year with a progress bar, then show what happened and where to look."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from importlib.resources import files

import httpx
import uvicorn
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from policyjobs.api.application import create_app
from policyjobs.demo.book import Book, first_term_start, make_book
from policyjobs.demo.receiver import Receiver
from policyjobs.demo.year import Story, Year
from policyjobs.engine import public_status
from policyjobs.runtime import Runtime
from policyjobs.security.permissions import ADMIN
from policyjobs.security.tokens import create_token
from policyjobs.webhooks.catalogue import CATALOGUE

CONFIG = files("policyjobs.demo").joinpath("tenant.yaml").read_text(encoding="utf-8")
QUIET = {"invoicing.job.finished"}  # the event types the demo's receiver is not sent


def run_demo(runtime: Runtime, sock: socket.socket, *, exit_after: bool,
             policies: int = 50) -> None:
    """Set up, serve on `sock` (listening on 127.0.0.1), run the year, show where to look,
    and keep serving until Ctrl-C (or stop at once with `exit_after`)."""
    console = Console()
    tenant = runtime.create_tenant(runtime.tenant_configs.load(CONFIG))
    with runtime.db.begin() as conn:
        token, _ = create_token(conn, tenants=[tenant], permissions=[ADMIN],
                                known=runtime.permissions, now=runtime.clock.now())
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(
        create_app(runtime, run_workers=True, owns_process=True), host="127.0.0.1", port=port,
        log_config=None,
    ))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="policyjobs-demo-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    receiver = Receiver()
    try:
        _wait_until_up(url)
        book = make_book(first_term_start(runtime.clock.now()), policies=policies)
        started = time.monotonic()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=120) as client:
            receiver.secret = _subscribe(client, tenant, receiver.url)
            year = Year(client, tenant, book, lambda: _more_render_time(runtime, tenant))
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console) as progress:
                story = year.run(progress)
            invoices = year.tally()
            clock = client.get("/admin/clock").json()["now"]
        _summary(console, runtime, tenant, book, story, invoices, time.monotonic() - started)
        _webhooks(console, receiver)
        _where_to_look(console, url, tenant, token, clock, book, story)
        if not exit_after:
            console.print("Serving until Ctrl-C.")
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(timeout=40)
        receiver.close()


def _subscribe(client: httpx.Client, tenant: str, url: str) -> str:
    """Subscribe the demo's receiver to every type of the tenant's events but the nightly
    generation runs' endings (one a night, most billing nothing); its secret."""
    made = client.post(f"/platform/{tenant}/webhooks", json={
        "url": url, "description": "the demo's own receiver",
        "eventTypes": [kind.name for kind in CATALOGUE if kind.name not in QUIET]})
    made.raise_for_status()
    return str(made.json()["secret"])


def _webhooks(console: Console, receiver: Receiver) -> None:
    table = Table(title=f"Webhook events the demo's receiver got ({receiver.url})")
    table.add_column("type")
    table.add_column("events", justify="right")
    for type_, n in sorted(receiver.types.items()):
        table.add_row(type_, str(n))
    table.add_row("all, each signature checked", str(receiver.types.total()))
    if receiver.forged:
        table.add_row("[red]signature did not check out[/red]", str(receiver.forged))
    console.print(table)


def _more_render_time(runtime: Runtime, tenant: str) -> None:
    """What the operator does about a timed-out render: give the tenant's renders longer."""
    runtime.configure_tenant(tenant, runtime.tenant_configs.load(
        CONFIG.replace("timeoutSeconds: 2", "timeoutSeconds: 120")))


def _summary(console: Console, runtime: Runtime, tenant: str, book: Book, story: Story,
             invoices: Counter[str], seconds: float) -> None:
    plans = Counter(p.plan for p in book.policies)
    year = Table(title=f"The year, in {seconds:.0f} s", show_header=False)
    year.add_column(style="bold")
    year.add_column()
    year.add_row("policies", f"{len(book.policies)} on {len(book.accounts)} accounts: "
                 + ", ".join(f"{n} {plan}" for plan, n in sorted(plans.items())))
    year.add_row("mid-term", ", ".join(f"{m.kind} of {m.policy.locator}" for m in book.midterms)
                 or "none")
    year.add_row("invoices", f"{sum(invoices.values())}: " + ", ".join(
        f"{n} {how}" for how, n in sorted(invoices.items())))
    year.add_row("lapsed", ", ".join(story.lapsed) + " (cancelled after a lapse)"
                 if story.lapsed else "none")
    for policy, account, credited, balance in story.credited:
        left = ("all of it still its credit" if balance >= credited else
                "its next invoices used it" if balance == 0 else
                f"{balance:.2f} of it still its credit, its next invoices used the rest")
        year.add_row("credited", f"{credited:.2f} to account {account}: what had been invoiced "
                     f"for {policy}'s cover after its cancellation ({left})")
    year.add_row("timed out", f"documents job {story.slow_job}, "
                 + ("retried in bulk once the render deadline was raised"
                    if story.slow_retriggered else
                    "which rendered within its deadline: this machine is fast"))
    if bulk := story.bulk_retry:
        year.add_row("bulk retry", f"job {bulk['jobLocator']}: of the documents jobs still "
                     f"running, {bulk['matched']} matched, {bulk['acted']} retried"
                     + "".join(f", {n} skipped ({why})" for why, n in bulk["skipped"].items()))
    console.print(year)

    with runtime.db.connect() as conn:
        counts = runtime.queue.counts(conn, tenant=tenant)
    statuses = sorted({public_status(s) for by_status in counts.values() for s in by_status})
    jobs = Table(title="Jobs by kind and status")
    jobs.add_column("kind")
    for status in statuses:
        jobs.add_column(status, justify="right")
    jobs.add_column("all", justify="right")
    for kind, by_status in sorted(counts.items()):
        shown = Counter[str]()
        for engine_status, n in by_status.items():
            shown[public_status(engine_status)] += n
        jobs.add_row(kind, *(str(shown[s]) for s in statuses), str(sum(shown.values())))
    console.print(jobs)


def _where_to_look(console: Console, url: str, tenant: str, token: str, clock: str,
                   book: Book, story: Story) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("dashboard", f"{url}/dashboard  (log in with the token below)")
    table.add_row("tenant", tenant)
    table.add_row("token", f"{token}  (admin, this tenant only)")
    table.add_row("API", f"{url}   OpenAPI: {url}/openapi.json   docs: {url}/docs")
    table.add_row("test clock", clock)
    console.print(Panel(table, title="policyjobs demo", expand=False))
    auth = f'-H "Authorization: Bearer {token}"'
    billing = f"{url}/billing/{tenant}"
    slow = book.slow_quote
    lines = [
        f"{url}/document/{tenant}/documents/quote/{slow.quote}/jobs/{story.slow_job}",
        f"{billing}/installments/transactions/{slow.issuance}/list",
        f"{billing}/invoices/accounts/{slow.account.locator}/list",
    ]
    if story.late_invoice:
        lines.append(f"{billing}/invoices/{story.late_invoice}")
        lines.append(f"{billing}/delinquencies/invoices/{story.late_invoice}/list")
    if story.delinquency:
        lines.append(f"{billing}/delinquencies/{story.delinquency}/events/list")
    for _, account, _, _ in story.credited:
        lines.append(f"{billing}/accounts/{account}/credit")
    if story.bulk_retry:
        lines.append(f"{url}/admin/jobs/bulk/{story.bulk_retry['jobLocator']}")
    lines.append(f"{url}/admin/audit/list?tenantLocator={tenant}")
    console.print("Try it:")
    for line in lines:
        console.print(f"  curl {auth} {line}", soft_wrap=True)
    console.print(f"  curl {url}/metrics", soft_wrap=True)


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the demo server did not answer at {url}")
