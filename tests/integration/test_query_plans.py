"""Every query the read endpoints run uses an index, and no paged list sorts its whole
reference; a claim reads a few rows per tenant, not a deep backlog.

The endpoints are called through the app on PostgreSQL, every statement they send (on the
API's asyncpg reads) is captured, and each is explained again, as the generic plan the
reads use, with sequential scans and sorts priced out
(`enable_seqscan`, `enable_sort` off). PostgreSQL then picks a sequential scan, or an
index scan with no index condition, only where no index can narrow the rows, and a sort
only where no index gives the order: any of them in a plan means the query would read or
sort a whole table or reference set at scale.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.engine import Lane, NewJob, listing
from policyjobs.engine.clock import wall_now
from policyjobs.engine.postgres import PostgresBackend
from policyjobs.runtime import Runtime
from policyjobs.security.permissions import ADMIN
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from policyjobs.store.readers import PostgresReads
from tests.support.engine_domain import NOOP
from tests.support.engine_domain import runtime as engine_runtime

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "tenant.yaml").read_text()
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}
TERM = {"startTime": "2027-01-01T05:00:00Z", "endTime": "2028-01-01T05:00:00Z"}
CHARGES = [{"locator": "C-1", "chargeType": "premium", "amount": "1200.00"}]
EVENTS = [
    {"type": "quote", "trigger": "priced", "locator": "Q-1", "accountLocator": "A-1",
     "term": TERM, "charges": CHARGES, "data": {"insured": {"name": "Ada"}}},
    {"type": "transaction", "trigger": "issued", "transactionType": "issuance",
     "locator": "T-1", "policyLocator": "P-1", "accountLocator": "A-1",
     "segments": [{"locator": "S-1", "charges": CHARGES, **TERM}]},
]


@pytest.fixture
def served(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, str, dict[str, str]]]:
    """A PostgreSQL store holding a priced quote's and an issuance's jobs and artifacts."""
    runtime = build_runtime(Settings(database_url=postgres_url, test_clock=True,
                                     home=tmp_path, poll="100ms", upkeep="200ms",
                                     webhooks_allow_http=True, webhooks_allow_private=True))
    try:
        tenant = runtime.create_tenant(runtime.tenant_configs.load(EXAMPLE))
        with runtime.db.begin() as conn:
            token, _ = create_token(conn, tenants=[tenant], permissions=[ADMIN], known=(),
                                    now=runtime.clock.now())
        headers = {"Authorization": f"Bearer {token}"}
        runtime.start_workers()
        with TestClient(create_app(runtime, run_workers=False)) as client:
            # An endpoint nothing listens at: every event makes a delivery and a failed attempt.
            response = client.post(f"/platform/{tenant}/webhooks", headers=headers,
                                   json={"url": "http://127.0.0.1:9/in", "eventTypes": []})
            assert response.status_code == 201, response.text
            response = client.post(f"/platform/{tenant}/events", headers=headers,
                                   json={"events": EVENTS})
            assert response.status_code == 202, response.text
            bill(client, tenant, headers)
        runtime.stop_workers()
        yield runtime, tenant, headers
    finally:
        runtime.close()


def settle(client: TestClient, headers: dict[str, str]) -> None:
    """Wait until nothing runs and nothing is due."""
    assert client.get("/admin/idle", params={"timeout": 60},
                      headers=headers).json() == {"idle": True}


def bill(client: TestClient, tenant: str, headers: dict[str, str]) -> None:
    """Run the generation schedule into 2027, invoice early and immediately, and pay."""
    settle(client, headers)
    client.put("/admin/clock", headers=headers, json={"now": "2027-01-01T12:00:00Z"})
    settle(client, headers)
    installments = client.get(f"/billing/{tenant}/installments/transactions/T-1/list",
                              headers=headers).json()["items"]
    early = client.post(f"/billing/{tenant}/invoices/earlyInvoicing", headers=headers,
                        json={"installmentLocators": [installments[-1]["locator"]],
                              "ignoreHolds": False})
    assert early.status_code == 200, early.text
    [invoice] = client.get(f"/billing/{tenant}/invoices/accounts/A-1/list",
                           headers=headers).json()["items"][:1]
    events = [{"type": "immediateInvoicing", "accountLocator": "A-1", "currencies": ["USD"]},
              {"type": "payment", "invoiceLocator": invoice["locator"], "amount": "1.00",
               "currency": "USD"}]
    response = client.post(f"/platform/{tenant}/events", headers=headers,
                           json={"events": events})
    assert response.status_code == 202, response.text
    settle(client, headers)


def read_paths(client: TestClient, tenant: str, headers: dict[str, str]) -> list[str]:
    """Every read endpoint, with locators that exist."""
    billing, documents = f"/billing/{tenant}", f"/document/{tenant}/documents"
    jobs = client.get(f"{billing}/jobs/installments/quotes/Q-1/list", headers=headers).json()
    installment = client.get(f"{billing}/installments/quotes/Q-1/list", headers=headers).json()
    doc_jobs = client.get(f"{documents}/quote/Q-1/jobs/list", headers=headers).json()
    doc_job = client.get(f"{documents}/quote/Q-1/jobs/{doc_jobs['items'][0]['locator']}",
                         headers=headers).json()
    paths = [f"{documents}/{kind}/{locator}/jobs/list?count=20&offset=1"
             for kind, locator in (("quote", "Q-1"), ("transaction", "T-1"),
                                   ("segment", "S-1"))]
    paths += [f"{documents}/quote/Q-1/jobs/{doc_job['locator']}",
              f"{documents}/{doc_job['documents'][0]['locator']}",
              f"{documents}/invoices/I-1/jobs",
              f"{billing}/jobs/installments/quotes/Q-1/list?count=20&offset=1",
              f"{billing}/jobs/installments/transactions/T-1/list?count=20",
              f"{billing}/installments/quotes/Q-1/list?count=20&offset=1",
              f"{billing}/installments/transactions/T-1/list?count=20",
              f"{billing}/installments/{installment['items'][0]['locator']}",
              f"{billing}/installmentLattices/{jobs['items'][0]['latticeLocator']}",
              f"{billing}/installmentLattices/quotes/Q-1"]
    invoices = client.get(f"{billing}/invoices/accounts/A-1/list", headers=headers).json()
    account_jobs = client.get(f"{billing}/jobs/invoicing/accounts/A-1/list",
                              headers=headers).json()
    early = client.get(f"{billing}/jobs/earlyInvoicing/accounts/A-1/list",
                       headers=headers).json()
    assert invoices["items"]
    assert account_jobs["items"]
    assert early["items"]
    paths += [f"{billing}/jobs/invoices/quotes/Q-1/list?count=20&offset=1",
              f"{billing}/jobs/invoices/policies/P-1/list?count=20",
              f"{billing}/jobs/invoicing/accounts/A-1/list?count=20&offset=1",
              f"{billing}/jobs/invoicing/{account_jobs['items'][0]['locator']}",
              f"{billing}/jobs/earlyInvoicing/{early['items'][0]['locator']}",
              f"{billing}/jobs/earlyInvoicing/accounts/A-1/list?count=20",
              f"{billing}/invoices/{invoices['items'][0]['locator']}",
              f"{billing}/invoices/accounts/A-1/list?count=20&offset=1",
              f"{billing}/invoices/accounts/A-1/list?includeZeroAmountInvoices=true",
              f"{documents}/invoices/{invoices['items'][0]['locator']}/jobs"]
    invoice = invoices["items"][0]["locator"]
    [delinquency] = client.get(f"{billing}/delinquencies/invoices/{invoice}/list",
                               headers=headers).json()["items"]
    d = delinquency["locator"]
    events = client.get(f"{billing}/delinquencies/{d}/events/list", headers=headers).json()
    paths += [f"{billing}/jobs/delinquencies/{d}/list?count=20&offset=1",
              f"{billing}/jobs/delinquencies/invoices/{invoice}/list?count=20",
              f"{billing}/jobs/delinquencies/{d}/events/list?count=20&offset=1",
              f"{billing}/delinquencies/{d}",
              f"{billing}/delinquencies/invoices/{invoice}/list?count=20",
              f"{billing}/delinquencies/events/{events['items'][0]['locator']}",
              f"{billing}/delinquencies/{d}/events/list?count=20"]
    hooks = f"/platform/{tenant}/webhooks"
    [endpoint] = client.get(f"{hooks}/list", headers=headers).json()["items"]
    e = endpoint["locator"]
    [attempt, *_] = client.get(f"{hooks}/{e}/deliveries/list", headers=headers).json()["items"]
    paths += [f"{hooks}/list?count=20&offset=1", f"{hooks}/{e}",
              f"{hooks}/{e}/deliveries/list?count=20&offset=1",
              f"{hooks}/{e}/deliveries/list?eventId={attempt['eventId']}&count=20"]
    # Every filter of the audit trail; not the unfiltered list (admin's, of every tenant),
    # a walk of the (at, id) index from its newest end that stops at the page, which this
    # test's rule (an index scan needs an index condition) cannot tell from a full read.
    audit = "/admin/audit/list?count=20&offset=1"
    paths += [f"{audit}&tenantLocator={tenant}", f"{audit}&action=clock.move",
              f"{audit}&tenantLocator={tenant}&action=webhooks.change",
              f"{audit}&after=2027-01-01T00:00:00Z&before=2027-02-01T00:00:00Z"]
    paths += ["/admin/jobs/bulk/01J00000000000000000000000"]  # a bulk action's progress
    return paths


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def test_every_read_uses_an_index_and_pages_without_sorting(
        served: tuple[Runtime, str, dict[str, str]]) -> None:
    runtime, tenant, headers = served
    captured: list[tuple[str, Sequence[Any]]] = []

    def capture(statement: str, values: Sequence[Any]) -> None:
        captured.append((statement, list(values)))

    app = create_app(runtime, run_workers=False)
    with TestClient(app) as client:
        paths = read_paths(client, tenant, headers)
        reads = app.state.reads
        assert isinstance(reads, PostgresReads)
        reads.watch(capture)
        for path in paths:
            response = client.get(path, headers=headers)
            assert response.status_code in (200, 404), (path, response.text)
    assert len(captured) >= len(paths)
    problems = asyncio.run(_unindexed(runtime.db.url, captured))
    assert not problems, "\n\n".join(problems)


def _literal(value: Any) -> str:
    """`value` as an SQL literal, which `EXECUTE` casts to its parameter's type."""
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


async def _unindexed(url: sa.URL, captured: list[tuple[str, Sequence[Any]]]) -> list[str]:
    """The statements among `captured` that read a whole table or index, or sort a page."""
    problems = []
    conn = await asyncpg.connect(url.set(drivername="postgresql")
                                 .render_as_string(hide_password=False))
    try:
        # The API plans its reads once for any values (`store.readers`): explain those plans.
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute("SET enable_seqscan = off")
        for statement, values in captured:
            paged = "LIMIT" in statement.upper()  # unpaged lookups may sort what they found
            await conn.execute(f"SET enable_sort = {'off' if paged else 'on'}")
            await conn.execute(f"PREPARE read AS {statement}")
            arguments = ", ".join(_literal(value) for value in values)
            explained = await conn.fetchval(
                f"EXPLAIN (FORMAT JSON) EXECUTE read{f'({arguments})' if values else ''}")
            await conn.execute("DEALLOCATE read")
            plan = json.loads(explained)[0]
            nodes = {node["Node Type"] for node in plan_nodes(plan["Plan"])}
            if "Seq Scan" in nodes and "FROM" in statement.upper():
                problems.append(f"reads a whole table: {statement}")
            if any(node["Node Type"] in INDEX_SCANS and "Index Cond" not in node
                   for node in plan_nodes(plan["Plan"])):
                problems.append(f"reads a whole index: {statement}")
            if paged and "Sort" in nodes:
                problems.append(f"sorts before its page: {statement}")
    finally:
        await conn.close()
    return problems


BACKLOG = 100_000


def test_a_claim_reads_a_few_rows_per_tenant_of_a_deep_backlog(postgres_url: str) -> None:
    """Behind one tenant's 100,000 due jobs (and as many scheduled for later), with two
    other tenants' jobs and the tables analyzed, the claim's statements read a few index
    entries per tenant and lane, and the rows they lease: never the backlog. So does the
    busy check, and the metrics' queue depth reads the 10,000 due jobs it counts."""
    with engine_runtime(postgres_url) as rt:
        later = rt.clock.now() + timedelta(days=30)
        with rt.db.begin() as conn:
            rt.queue.enqueue(conn, [NewJob(NOOP, "a") for _ in range(BACKLOG)])
            rt.queue.enqueue(conn, [NewJob(NOOP, "a", run_at=later) for _ in range(BACKLOG)])
            rt.queue.enqueue(conn, [NewJob(NOOP, "b", lane=Lane.BATCH),
                                    NewJob(NOOP, "c", lane=Lane.INTERACTIVE)])
        with rt.db.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
            sql, now = rt.queue.backend.sql, wall_now()
            picks = orjson.dumps([{"tenant": "a", "lane": 1, "count": 100},
                                  {"tenant": "b", "lane": 2, "count": 100}]).decode()
            lease = {"owner": "w", "now": now, "lease_until": now + timedelta(minutes=1)}
            explained = {
                "due": _explain(conn, sql["due"], {"now": now}),
                "lease": _explain(conn, sql["lease"], lease | {"picks": picks}),
                "lease_alone": _explain(conn, sql["lease_alone"], lease | {
                    "tenant": "a", "lane": 1, "count": 100}),
                "busy": _explain(conn, sql["busy"], {"now": now}),
                "queue_depth": _explain(conn, sql["queue_depth"], {"now": now}),
            }
    for name, plan in explained.items():
        scans = [node for node in plan_nodes(plan) if "Relation Name" in node]
        assert not [n for n in scans if n["Node Type"] == "Seq Scan"
                    and n["Relation Name"] in ("jobs", "job_queue")], name
        read = sum((n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"]
                   for n in scans)
        bound = 11_000 if name == "queue_depth" else 1_000  # the depth counts up to 10,000
        assert read < bound, (name, read)


def _explain(conn: sa.Connection, statement: str, params: dict[str, Any]) -> dict[str, Any]:
    """The executed plan of `statement` (its work rolled back), planned as the engine plans
    its claims (no bitmap scans)."""
    with conn.begin() as transaction:
        PostgresBackend().plan_claims(conn)
        (found,) = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}",
                                        params).one()
        transaction.rollback()
    plan: dict[str, Any] = found[0]["Plan"]
    return plan


def test_a_reference_filter_reads_its_jobs_from_the_index(postgres_url: str) -> None:
    """The dashboard's job list and a bulk action filter by a reference's locator alone, of
    any type: the index narrows to that locator, instead of reading the tenant's jobs (the
    whole table, as it did while the index put the type first)."""
    with engine_runtime(postgres_url) as rt:
        with rt.db.begin() as conn:
            rt.queue.enqueue(conn, [NewJob(NOOP, "a", reference_type="quote",
                                           reference_locator=f"Q-{i % 500}")
                                    for i in range(5_000)])
        with rt.db.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("SET enable_seqscan = off")
            statement = listing._search(None, False, True, False, False).compile(
                dialect=conn.dialect)
            values = statement.construct_params({"tenant": "a", "reference": "Q-7",
                                                 "offset": 0})
            (found,) = conn.exec_driver_sql(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement.string}", values).one()
    [scan] = [node for node in plan_nodes(found[0]["Plan"])
              if node.get("Relation Name") == "jobs"]
    assert scan["Actual Rows"] == 10
    # Its ten rows and a few index pages, not the tenant's 5,000 entries (some 80 pages).
    assert scan["Shared Hit Blocks"] + scan["Shared Read Blocks"] < 20, scan
