"""Helpers for tests that drive the app over HTTP: tokens, problems and the ping domain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

MakeToken = Callable[..., str]


def bearer(token: str) -> dict[str, str]:
    """The authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


def ping(client: TestClient, tenant: str, token: str, locator: str, **fields: Any) -> str:
    """Send one ping event; the locator of the job it made."""
    response = client.post(f"/platform/{tenant}/events", headers=bearer(token),
                           json={"type": "test.ping", "locator": locator, **fields})
    assert response.status_code == 202, response.text
    return str(response.json()["events"][0]["jobs"][0]["locator"])
