"""`policyjobs demo`: an embedded instance with the test clock, a tenant, a token and a tour."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.security.permissions import ADMIN
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from policyjobs.tenants.config import TenantConfig, TenantConfigSchema
from policyjobs.testing.postgres import free_port

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tenant.yaml"


def _example_config(schema: TenantConfigSchema) -> tuple[TenantConfig, str]:
    if EXAMPLE.is_file():
        return schema.load(EXAMPLE.read_text(encoding="utf-8")), str(EXAMPLE)
    return schema.load(""), "the built-in defaults"


def run_demo(settings: Settings, *, port: int, exit_after: bool) -> None:
    """Set up, serve, print where to look, and keep serving until Ctrl-C (or `exit_after`)."""
    console = Console()
    runtime = build_runtime(settings)
    config, source = _example_config(runtime.tenant_configs)
    now = runtime.clock.now()
    tenant = runtime.create_tenant(config)
    with runtime.db.begin() as conn:
        token, _ = create_token(conn, tenants=[tenant], permissions=[ADMIN],
                                known=runtime.permissions, now=now)
    chosen = free_port(port)
    server = uvicorn.Server(uvicorn.Config(
        create_app(runtime, run_workers=True), host="127.0.0.1", port=chosen, log_config=None,
    ))
    thread = threading.Thread(target=server.run, name="policyjobs-demo-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{chosen}"
    _wait_until_up(url)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client:
        receipts = _send_book(client, tenant, console)
        invoice = _first_invoice(client, tenant, console)
        clock = client.get("/admin/clock").json()["now"]
        idle = client.get("/admin/idle", params={"timeout": 30}).json()["idle"]
        quote_job = next((j["locator"] for j in receipts[0]["jobs"] if j["kind"] == "documents"),
                         None)
        document = None
        if quote_job:
            job = client.get(f"/document/{tenant}/documents/quote/Q-100/jobs/{quote_job}").json()
            document = job["documents"][0]["locator"] if job["documents"] else None

    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("store", runtime.db.url.render_as_string())
    table.add_row("tenant", f"{tenant}  (configured from {source})")
    table.add_row("token", f"{token}  (admin, this tenant only)")
    table.add_row("API", f"{url}   OpenAPI: {url}/openapi.json   docs: {url}/docs")
    table.add_row("test clock", f"{clock}   idle: {idle}")
    console.print(Panel(table, title="policyjobs demo", expand=False))
    console.print("Try it:")
    auth = f'-H "Authorization: Bearer {token}"'
    console.print(f"  curl {url}/health", soft_wrap=True)
    console.print(f"  curl {auth} {url}/admin/clock", soft_wrap=True)
    console.print(f"  curl {auth} -X PUT -H 'Content-Type: application/json' "
                  f"-d '{{\"now\": \"2027-06-01T00:00:00Z\"}}' {url}/admin/clock", soft_wrap=True)
    console.print(f"  curl {auth} '{url}/admin/idle?timeout=5'", soft_wrap=True)
    if quote_job:
        console.print(f"  curl {auth} {url}/document/{tenant}/documents/quote/Q-100/jobs/"
                      f"{quote_job}", soft_wrap=True)
        console.print(f"  curl {auth} {url}/document/{tenant}/documents/transaction/T-100/jobs/"
                      "list", soft_wrap=True)
    if document:
        console.print(f"  curl {auth} -o quote.pdf {url}/document/{tenant}/documents/"
                      f"{document}/document", soft_wrap=True)
    billing = f"{url}/billing/{tenant}"
    console.print(f"  curl {auth} {billing}/jobs/installments/transactions/T-100/list",
                  soft_wrap=True)
    console.print(f"  curl {auth} {billing}/installments/transactions/T-100/list",
                  soft_wrap=True)
    console.print(f"  curl {auth} {billing}/installmentLattices/quotes/Q-100", soft_wrap=True)
    console.print(f"  curl {auth} {billing}/invoices/accounts/A-7/list", soft_wrap=True)
    if invoice:
        console.print(f"  curl {auth} {billing}/invoices/{invoice}", soft_wrap=True)
        console.print(f"  curl {auth} {url}/document/{tenant}/documents/invoices/{invoice}/jobs",
                      soft_wrap=True)
    console.print(f"  curl {auth} {billing}/jobs/invoices/policies/P-100/list", soft_wrap=True)
    try:
        if not exit_after:
            console.print("Serving until Ctrl-C.")
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(timeout=40)
        runtime.close()


def _send_book(client: httpx.Client, tenant: str, console: Console) -> list[dict[str, Any]]:
    """A priced quote, and an issued policy whose second half-year costs more.

    Their documents render, and the tenant's monthly plan splits their premiums into
    installments: the quote's 1,200.00 into twelve of 100.00; the policy's segments into
    six of 100.00 and six of 108.33, the first of those taking the remainder (108.35).
    """
    start, middle, end = "2027-01-01T05:00:00Z", "2027-07-01T04:00:00Z", "2028-01-01T05:00:00Z"
    events = [
        {"type": "quote", "eventId": "demo-quote", "trigger": "priced", "locator": "Q-100",
         "accountLocator": "A-7", "productName": "homeowners",
         "term": {"startTime": start, "endTime": end},
         "charges": [{"locator": "C-1", "chargeType": "premium", "amount": "1200.00"}],
         "data": {"insured": {"name": "Ada Lovelace"}}},
        {"type": "transaction", "eventId": "demo-issue", "trigger": "issued",
         "transactionType": "issuance", "locator": "T-100", "policyLocator": "P-100",
         "termLocator": "TERM-100", "accountLocator": "A-7",
         "segments": [
             {"locator": "S-100", "startTime": start, "endTime": middle,
              "charges": [{"locator": "C-2", "chargeType": "premium", "amount": "600.00"}]},
             {"locator": "S-101", "startTime": middle, "endTime": end,
              "charges": [{"locator": "C-3", "chargeType": "premium", "amount": "650.00"}]},
         ]},
    ]
    response = client.post(f"/platform/{tenant}/events", json={"events": events})
    response.raise_for_status()
    receipts: list[dict[str, Any]] = response.json()["events"]
    with console.status("rendering the demo's documents and building its installments…"):
        client.get("/admin/idle", params={"timeout": 60})
    return receipts


def _first_invoice(client: httpx.Client, tenant: str, console: Console) -> str | None:
    """Move the test clock to the policy's start: the daily generation runs invoice its
    first installment, generated 15 days before; that invoice's locator."""
    with console.status("running the daily invoice generation up to 2027-01-02…"):
        client.put("/admin/clock", json={"now": "2027-01-02T12:00:00Z"}).raise_for_status()
        client.get("/admin/idle", params={"timeout": 120})
    invoices = client.get(f"/billing/{tenant}/invoices/accounts/A-7/list").json()["items"]
    return str(invoices[0]["locator"]) if invoices else None


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
