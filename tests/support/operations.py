"""Driving the operations API from a test."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi.testclient import TestClient


class Tenanted(Protocol):
    """A test's tenant, with a client and an admin's headers."""

    client: TestClient
    tenant: str
    headers: dict[str, str]

    def settle(self) -> None: ...


def act(books: Tenanted, action: str, *locators: str, **fields: Any) -> dict[str, Any]:
    """A bulk `action` on the jobs `locators` (or those `fields` filter), run to its end;
    what it did."""
    asked = books.client.post(f"/admin/jobs/{action}", headers=books.headers, json={
        "tenantLocator": books.tenant, **({"jobLocators": locators} if locators else {}),
        **fields})
    assert asked.status_code == 202, asked.text
    books.settle()
    done = books.client.get(f"/admin/jobs/bulk/{asked.json()['jobLocator']}",
                            headers=books.headers)
    assert done.json()["finishedAt"] is not None
    return dict(done.json())
