"""Tenant A's token reads nothing of tenant B and changes nothing of it: every operation of
the OpenAPI document and every page of the dashboard, with every locator B has."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.dashboard.session import LOGIN_CSRF, csrf_for
from policyjobs.runtime import Runtime
from tests.support.http import MakeToken, bearer
from tests.support.tenants import Tenants, every, locator_parameters, some_of_each


@pytest.fixture
def tenants(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Iterator[Tenants]:
    made = Tenants(client, runtime, make_token)
    before = made.rows_of_b()
    yield made
    made.settle()
    assert made.rows_of_b() == before, "a request with tenant A's token changed tenant B"


def leaked(body: str, locators: set[str], asked: str) -> list[str]:
    """B's locators in `body` that the request did not name itself."""
    return sorted(locator for locator in locators if locator in body and locator not in asked)


def test_no_operation_shows_or_changes_tenant_b_for_tenant_a(tenants: Tenants) -> None:
    client, headers = tenants.client, bearer(tenants.token)
    groups = tenants.locators_of_b()
    locators, asked_for = every(groups), some_of_each(groups)
    pairs = some_of_each(tenants.job_pairs_of_b())
    assert len(groups) > 20, groups  # B has something of every kind
    operations = [(method.upper(), path) for path, ops in client.get("/openapi.json").json()[
        "paths"].items() for method in ops if "{tenantLocator}" in path
                  and not path.startswith("/test/")]  # the test domain's own routes
    asked = 0
    for method, path in operations:
        names = locator_parameters(path)
        fillings: list[tuple[str, ...]] = [(loc,) * len(names) for loc in asked_for]
        if len(names) == 2:
            fillings += pairs
        # Under B's own path the guard refuses before any lookup: a few of B's real
        # locators show it; under A's path every one of them is looked for.
        for tenant, allowed, tried in ((tenants.b, {403}, fillings[-5:] or [()]),
                                       (tenants.a, {200, 400, 404}, fillings or [()])):
            for values in tried:
                url = path.replace("{tenantLocator}", tenant)
                for name, value in zip(names, values, strict=True):
                    url = url.replace(f"{{{name}}}", value)
                body = _body(path)
                response = client.request(method, url, headers=headers, json=body)
                asked += 1
                assert response.status_code in allowed, (method, url, response.text)
                assert not leaked(response.text, locators, url + repr(body)), (
                    method, url, response.text)
                if response.status_code == 200 and method == "GET" and names:
                    assert _is_empty(response.json()), (method, url, response.text)
    assert asked > len(asked_for) * len(operations)


def _body(path: str) -> dict[str, Any] | None:
    """What the operations that take a body get: B's locators where a locator goes."""
    if path.endswith("/events"):
        return {"events": [{"type": "payment", "invoiceLocator": "BT-1", "amount": "100.00",
                            "currency": "USD"}]}
    if path.endswith("/earlyInvoicing"):
        return {"installmentLocators": ["BT-1"], "ignoreHolds": False}
    return None


def _is_empty(body: Any) -> bool:
    """A list with no items, or an object that says nothing was found."""
    items = body.get("items") if isinstance(body, dict) else body
    return items == []


def test_bodies_naming_tenant_b_change_nothing_of_it(tenants: Tenants) -> None:
    client, headers = tenants.client, bearer(tenants.token)
    with tenants.runtime.db.connect() as conn:
        invoices = [row.locator for row in conn.execute(sa.text(
            "SELECT locator FROM invoices WHERE tenant = :t"), {"t": tenants.b})]
        installments = [row.locator for row in conn.execute(sa.text(
            "SELECT locator FROM installments WHERE tenant = :t"), {"t": tenants.b})]
    assert invoices
    assert installments
    for invoice in invoices:
        paid = client.post(f"/platform/{tenants.a}/events", headers=headers,
                           json={"type": "payment", "invoiceLocator": invoice,
                                 "amount": "100.00", "currency": "USD"})
        assert paid.status_code in (202, 400, 404), paid.text
        assert not leaked(paid.text, every(tenants.locators_of_b()), invoice)
    early = client.post(f"/billing/{tenants.a}/invoices/earlyInvoicing", headers=headers,
                        json={"installmentLocators": installments, "ignoreHolds": False})
    assert early.status_code in (400, 404), early.text
    assert not leaked(early.text, every(tenants.locators_of_b()), " ".join(installments))


def test_no_dashboard_page_shows_or_changes_tenant_b_for_tenant_a(tenants: Tenants) -> None:
    client = tenants.client
    client.cookies.clear()
    client.get("/dashboard/login")
    logged_in = client.post("/dashboard/login", follow_redirects=False,
                            data={"token": tenants.token,
                                  "csrf": client.cookies.get(LOGIN_CSRF) or ""})
    assert logged_in.status_code == 303
    csrf = csrf_for(tenants.token)
    groups = tenants.locators_of_b()
    locators = every(groups)
    pages: list[tuple[str, str, dict[str, str]]] = [("GET", "/dashboard", {}),
                                                     ("GET", "/dashboard/jobs", {})]
    for locator in some_of_each(groups):
        pages += [("GET", "/dashboard/jobs", {"reference": locator}),
                  ("GET", f"/dashboard/jobs/{locator}", {}),
                  ("GET", f"/dashboard/documents/{locator}/file", {}),
                  ("POST", f"/dashboard/jobs/{locator}/retrigger", {})]
    for method, path, params in pages:
        for tenant, allowed in ((tenants.a, {200, 404}), (tenants.b, {403})):
            response = client.request(method, path, params={"tenant": tenant, **params},
                                      data={"csrf": csrf} if method == "POST" else None,
                                      follow_redirects=False)
            asked = path + " " + " ".join(params.values())
            assert response.status_code in allowed, (method, path, params, response.text)
            assert not leaked(response.text, locators - {tenant}, asked), (method, path)
