"""Revision 0016 on stores that went on working after 0012 lost their domains' job data:
what it restores lets the queued jobs finish as they would have, and what it cannot
derive makes them fail saying so, never run wrong.

The loss is made as 0012 made it, by deleting the rows; the workers run only between
the steps that need them (`Runtime.start_workers`), so jobs can be left queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.engine import JobStatus
from policyjobs.engine.view import JOBS
from policyjobs.runtime import Runtime
from policyjobs.store.migrate import alembic_config
from tests.acceptance.test_installments import quote
from tests.support.billing import Books, issuance, money
from tests.support.http import MakeToken


class Store(Books):
    """A tenant whose workers run only when asked to."""

    def post(self, *events: dict[str, Any]) -> None:
        """Post the events and leave their jobs queued."""
        response = self.client.post(f"/platform/{self.tenant}/events", headers=self.headers,
                                    json={"events": list(events)})
        assert response.status_code == 202, response.text

    def working(self, on: bool) -> None:
        if on:
            self.runtime.start_workers()
        else:
            self.runtime.stop_workers()

    def lose(self, table: str) -> None:
        with self.runtime.db.begin() as conn:
            assert conn.execute(sa.text(f"DELETE FROM {table}")).rowcount > 0

    def restore(self) -> None:
        """Run revision 0016's upgrade on the store, as `policyjobs migrate` would."""
        revision = ScriptDirectory.from_config(alembic_config()).get_revision("0016")
        with (self.runtime.db.begin() as conn,
              Operations.context(MigrationContext.configure(conn))):
            revision.module.upgrade()

    def quote_jobs(self) -> list[dict[str, Any]]:
        return list(self.get("jobs/installments/quotes/Q-1/list", count=100)["items"])


@pytest.fixture
def store(runtime: Runtime, make_token: MakeToken) -> Iterator[Store]:
    with TestClient(create_app(runtime, run_workers=False),
                    raise_server_exceptions=False) as client:
        made = Store(client, runtime, make_token)
        made.working(True)
        try:
            yield made
        finally:
            runtime.stop_workers()


def test_a_quote_priced_while_its_chain_was_lost_ends_with_one_standing_lattice(
        store: Store) -> None:
    store.send(quote("Q-1", "100.00"))
    first = store.get("installmentLattices/quotes/Q-1")["locator"]
    store.lose("installment_jobs")
    store.send(quote("Q-1", "200.00"))  # no invalidate job: the chain's last was lost
    second = store.get("installmentLattices/quotes/Q-1")["locator"]
    store.working(False)
    store.post(quote("Q-1", "300.00"))
    store.post(quote("Q-1", "400.00"))
    store.lose("installment_jobs")

    store.restore()
    store.working(True)
    store.settle()

    jobs = store.quote_jobs()
    assert [(j["jobType"], j["jobStatus"]) for j in jobs] == [
        ("createOrUpdate", "finished"), ("createOrUpdate", "finished"),
        ("invalidate", "finished"), ("createOrUpdate", "finished"),
        ("invalidate", "finished"), ("createOrUpdate", "finished")]
    built_third, retired_third = jobs[3]["latticeLocator"], jobs[4]["latticeLocator"]
    assert jobs[2]["latticeLocator"] == second
    assert retired_third == built_third  # the lattice the job before it was to build
    current = store.get("installmentLattices/quotes/Q-1")
    assert current["locator"] == jobs[5]["latticeLocator"]
    items = store.get("installments/quotes/Q-1/list", count=100)["items"]
    assert {i["installmentLatticeLocator"] for i in items} == {current["locator"]}
    assert sum(money(i["installmentItems"][0]["amount"]) for i in items) == Decimal("400.00")
    assert store.get(f"installmentLattices/{first}")["locator"] == first  # still readable


def test_an_account_job_whose_request_was_lost_fails_saying_so(store: Store) -> None:
    store.send(issuance("T-1", "P-1"))
    future = store.installments("T-1")[3:5]
    store.working(False)
    response = store.client.post(
        f"/billing/{store.tenant}/invoices/earlyInvoicing", headers=store.headers,
        json={"installmentLocators": [i["locator"] for i in future], "ignoreHolds": False})
    assert response.status_code == 200, response.text
    job = response.json()["jobLocator"]
    store.lose("invoicing_jobs")

    store.restore()
    store.working(True)
    store.settle()

    with store.runtime.db.connect() as conn:
        status, errors = conn.execute(sa.select(JOBS.c.status, JOBS.c.errors)
                                      .where(JOBS.c.locator == job)).one()
    assert status == JobStatus.FAILED
    assert "has no row in invoicing_jobs" in str(errors)
    assert store.invoices() == []  # nothing invoiced that nobody asked for
