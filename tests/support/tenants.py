"""Two tenants for the sweeps that check one cannot reach the other: tenant B with a month of
billing behind it (quote, policy, installments, invoices, a delinquency with its notice,
documents, an early invoicing) and tenant A, empty, with a token that holds every permission."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.engine.schema import jobs, metadata
from policyjobs.runtime import Runtime
from tests.support.billing import CONFIG, DELINQUENCY, END, START, issuance, open_books
from tests.support.http import MakeToken, bearer

_PARAMETER = re.compile(r"{(\w+)}")

TENANT_CONFIG = CONFIG + DELINQUENCY + """
documents:
  definitions:
    - {staticName: offer, name: Offer, trigger: priced, scope: quote, format: text,
       template: "Quote {{ reference.locator }}"}
    - {staticName: policy, name: Policy, trigger: issued, scope: transaction, format: text,
       template: "Transaction {{ reference.locator }}"}
    - {staticName: cover, name: Cover, trigger: issued, scope: segment, format: text,
       template: "Segment {{ reference.locator }}"}
    - {staticName: bill, name: Bill, trigger: generated, scope: invoice, format: text,
       template: "Invoice {{ invoice.locator }}"}
"""


class Tenants:
    """Tenant B, billed from December 2026 to 7 January 2027, and tenant A, empty; `token`
    is A's and holds every permission, `b_headers` authorize as B."""

    def __init__(self, client: TestClient, runtime: Runtime, make_token: MakeToken) -> None:
        self.client, self.runtime = client, runtime
        open_books(runtime)
        config = runtime.tenant_configs.load(TENANT_CONFIG)
        self.a, self.b = runtime.create_tenant(config), runtime.create_tenant(config)
        self.token = make_token(self.a, "admin")
        self.b_headers = bearer(make_token(self.b, "admin"))
        self.send({"type": "quote", "trigger": "priced", "locator": "BQ-1",
                   "accountLocator": "BA-1", "term": {"startTime": START, "endTime": END},
                   "charges": [{"locator": "BC-1", "chargeType": "premium",
                                "amount": "1200.00"}]})
        self.send(issuance("BT-1", "BP-1", account="BA-1"))
        installments = self.client.get(
            f"/billing/{self.b}/installments/transactions/BT-1/list", headers=self.b_headers,
            params={"count": 100}).json()["items"]
        early = self.client.post(f"/billing/{self.b}/invoices/earlyInvoicing",
                                 headers=self.b_headers,
                                 json={"installmentLocators": [installments[-1]["locator"]],
                                       "ignoreHolds": False})
        assert early.status_code == 200, early.text
        self.move_to("2027-01-07T12:00:00Z")  # the first invoice unpaid, its reminder sent

    def send(self, event: dict[str, Any]) -> None:
        response = self.client.post(f"/platform/{self.b}/events", headers=self.b_headers,
                                    json=event)
        assert response.status_code == 202, response.text
        self.settle()

    def settle(self) -> None:
        idle = self.client.get("/admin/idle", params={"timeout": 120}, headers=self.b_headers)
        assert idle.json() == {"idle": True}

    def move_to(self, when: str) -> None:
        response = self.client.put("/admin/clock", headers=self.b_headers, json={"now": when})
        assert response.status_code == 200, response.text
        self.settle()

    def rows_of_b(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of B in every table that has a tenant."""
        with self.runtime.db.connect() as conn:
            return {table.name: sorted(map(tuple, conn.execute(
                        sa.select(table).where(table.c.tenant == self.b)).all()), key=repr)
                    for table in metadata.sorted_tables if "tenant" in table.c}

    def locators_of_b(self) -> dict[str, set[str]]:
        """Every locator B's rows hold, by the column that holds it."""
        found = {"tenant": {self.b}}
        with self.runtime.db.connect() as conn:
            for table in metadata.sorted_tables:
                columns = [c for c in table.c if c.name.endswith("locator")]
                if "tenant" not in table.c or not columns:
                    continue
                for row in conn.execute(sa.select(*columns).where(table.c.tenant == self.b)):
                    for column, value in zip(columns, row, strict=True):
                        if isinstance(value, str) and value:
                            found.setdefault(f"{table.name}.{column.name}", set()).add(value)
        return found

    def job_pairs_of_b(self) -> dict[str, set[tuple[str, str]]]:
        """(reference, job) of B's jobs by kind, as the two-locator routes take them."""
        found: dict[str, set[tuple[str, str]]] = {}
        with self.runtime.db.connect() as conn:
            for kind, reference, job in conn.execute(
                    sa.select(jobs.c.kind, jobs.c.reference_locator, jobs.c.locator)
                    .where(jobs.c.tenant == self.b)):
                found.setdefault(kind, set()).add((reference, job))
        return found


def locator_parameters(path: str) -> list[str]:
    """The path parameters of an operation's path template, but the tenant's."""
    return [name for name in _PARAMETER.findall(path) if name != "tenantLocator"]


def every(groups: dict[str, set[Any]]) -> set[Any]:
    return set().union(*groups.values())


def some_of_each(groups: dict[str, set[Any]], each: int = 2) -> list[Any]:
    """A few of each kind: the sweep asks for each kind of locator B has, and the leak
    check looks for every one of B's locators in every answer."""
    return sorted({value for values in groups.values() for value in sorted(values)[:each]})
