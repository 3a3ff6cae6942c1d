"""A year of invoicing on PostgreSQL with worker processes killed mid-run: nothing twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.runtime import Runtime
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from policyjobs.testing.processes import Spawned
from tests.support.billing import CONFIG, issuance
from tests.support.http import bearer
from tests.support.worker_process import worker_processes

pytestmark = pytest.mark.slow

POLICIES = 24
INSTANCE_HELD = sa.text("SELECT owner FROM job_queue WHERE kind = 'invoicing.instance' "
                        "AND status = 'leased'")


@pytest.fixture
def runtime(postgres_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """The app's runtime on PostgreSQL with the test clock, running no workers itself."""
    built = build_runtime(Settings(database_url=postgres_url, home=tmp_path / "home",
                                   test_clock=True))
    try:
        yield built
    finally:
        built.close()


def kill_one_invoicing(runtime: Runtime, workers: list[Spawned]) -> bool:
    """SIGKILL a worker process while it holds an invoice instance; whether one was found."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        alive = {w.pid: w for w in workers if w.process.poll() is None}
        with runtime.db.connect() as conn:
            owners = conn.execute(INSTANCE_HELD).scalars().all()
        for owner in owners:
            victim = alive.get(int(owner.split(":")[-2]))
            if victim is not None:
                victim.kill()
                return True
        time.sleep(0.005)
    return False


def test_killed_workers_invoice_every_installment_once(runtime: Runtime, postgres_url: str,
                                                       tmp_path: Path) -> None:
    tenant = runtime.create_tenant(runtime.tenant_configs.load(CONFIG))
    with runtime.db.begin() as conn:
        token, _ = create_token(conn, tenants=[tenant], permissions=["admin"], known=(),
                                now=runtime.clock.now())
    headers = bearer(token)
    overrides = {"POLICYJOBS_TEST_CLOCK": "1", "POLICYJOBS_HOME": str(tmp_path / "home")}
    with worker_processes(postgres_url, tmp_path / "logs", count=4,
                          overrides=overrides) as workers, \
            TestClient(create_app(runtime)) as client:
        client.put("/admin/clock", headers=headers, json={"now": "2026-12-01T12:00:00Z"})
        events = [issuance(f"T-{n}", f"P-{n}", f"{1000 + n}.00", account=f"A-{n % 8}")
                  for n in range(POLICIES)]
        assert client.post(f"/platform/{tenant}/events", headers=headers,
                           json={"events": events}).status_code == 202
        assert client.get("/admin/idle", params={"timeout": 60},
                          headers=headers).json() == {"idle": True}
        client.put("/admin/clock", headers=headers, json={"now": "2028-01-02T12:00:00Z"})
        kills = sum(kill_one_invoicing(runtime, workers) for _ in range(2))
        assert client.get("/admin/idle", params={"timeout": 120},
                          headers=headers).json() == {"idle": True}

    assert kills == 2
    with runtime.db.connect() as conn:
        statuses: dict[str, int] = dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM jobs GROUP BY status")).all())
        installments = conn.execute(sa.text(
            "SELECT count(*), count(invoice_locator) FROM installments "
            "WHERE policy_locator IS NOT NULL")).one()
        items = conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM installment_items i JOIN installments s "
            "        ON s.locator = i.installment_locator WHERE s.policy_locator IS NOT NULL), "
            "       (SELECT count(*) FROM invoice_items), "
            "       (SELECT count(DISTINCT installment_item_locator) FROM invoice_items)")).one()
        per_run = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT account_locator, currency, generated_time "
            "FROM invoices GROUP BY 1, 2, 3 HAVING count(*) > 1) AS doubled")).scalar_one()
        totals = conn.execute(sa.text(
            "SELECT i.locator, i.total, (SELECT string_agg(amount, ',') FROM invoice_items "
            "WHERE invoice_locator = i.locator) FROM invoices AS i")).all()
    assert set(statuses) == {"finished"}, statuses
    assert installments == (POLICIES * 12, POLICIES * 12)  # every one invoiced
    assert items[0] == items[1] == items[2]  # every item billed, and once
    assert per_run == 0  # no account invoiced twice for one run
    assert all(Decimal(total) == sum(map(Decimal, amounts.split(",")))
               for _, total, amounts in totals)
    premium = sum(Decimal(f"{1000 + n}.00") for n in range(POLICIES))
    assert sum(Decimal(total) for _, total, _ in totals) == premium
