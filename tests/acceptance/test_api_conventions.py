"""What every route shares: auth, problems, pagination, times and the OpenAPI document."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from policyjobs.runtime import Runtime
from policyjobs.security.tokens import revoke_token
from tests.support.http import MakeToken, assert_problem, bearer, ping

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    assert client.get("/health/live").json() == {"status": "ok"}


def test_openapi_names_the_security_of_every_guarded_operation(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    events = document["paths"]["/platform/{tenantLocator}/events"]["post"]
    assert events["x-securityGroup"] == "events"
    assert events["x-securityPermission"] == ["write"]
    listing = document["paths"]["/test/{tenantLocator}/pings/{locator}/jobs/list"]["get"]
    assert (listing["x-securityGroup"], listing["x-securityPermission"]) == (
        "jobs", ["read", "list"])
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert "422" not in operation["responses"], path
            if path not in ("/health", "/health/live"):
                assert "x-securityGroup" in operation, path


def test_every_permission_a_route_demands_is_one_a_domain_declares(
        client: TestClient, runtime: Runtime) -> None:
    document = client.get("/openapi.json").json()

    demanded = {f"{operation['x-securityGroup']}.{action}"
                for operations in document["paths"].values()
                for operation in operations.values()
                for action in operation.get("x-securityPermission", ())}

    assert demanded
    assert demanded <= runtime.permissions
    assert runtime.permissions <= demanded  # and none is declared that no route demands


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/no/such/route"), 404)
    assert_problem(client.delete("/health"), 405)


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc",
                                    "Bearer pjt_01ARZ3NDEKTSV4RRFFQ69G5FAV_wrongsecret"])
def test_missing_or_bad_token_is_401(client: TestClient, tenant: str,
                                     header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    body = assert_problem(client.get(f"/test/{tenant}/pings/P-1/jobs/list", headers=headers), 401)
    assert "token" in body["detail"]


def test_revoked_and_expired_tokens_are_401(client: TestClient, runtime: Runtime, tenant: str,
                                            make_token: MakeToken) -> None:
    revoked = make_token(tenant, "jobs.read", "jobs.list")
    with runtime.db.begin() as conn:
        revoke_token(conn, revoked.split("_")[1], runtime.clock.now())
    url = f"/test/{tenant}/pings/P-1/jobs/list"
    assert "revoked" in assert_problem(client.get(url, headers=bearer(revoked)), 401)["detail"]
    expiring = make_token(tenant, "jobs.read", "jobs.list",
                          expires_at=runtime.clock.now() + timedelta(days=1))
    assert client.get(url, headers=bearer(expiring)).status_code == 200
    client.put("/admin/clock", headers=bearer(make_token(tenant, "admin")),
               json={"now": (runtime.clock.now() + timedelta(days=2)).isoformat()})
    assert "expired" in assert_problem(client.get(url, headers=bearer(expiring)), 401)["detail"]


def test_token_of_tenant_a_gets_403_on_tenant_b(client: TestClient, tenant: str,
                                               make_tenant: Any, make_token: MakeToken) -> None:
    other = make_tenant()
    token_a = make_token(tenant, "jobs.read", "jobs.list", "events.write")
    body = assert_problem(client.get(f"/test/{other}/pings/P-1/jobs/list",
                                     headers=bearer(token_a)), 403)
    assert other in body["detail"]
    assert_problem(client.post(f"/platform/{other}/events", headers=bearer(token_a),
                               json={"type": "test.ping", "locator": "P-1"}), 403)


def test_missing_permission_is_403(client: TestClient, tenant: str,
                                   make_token: MakeToken) -> None:
    token = make_token(tenant, "jobs.read")
    body = assert_problem(client.get(f"/test/{tenant}/pings/P-1/jobs/list",
                                     headers=bearer(token)), 403)
    assert body["detail"] == "the token lacks the permission jobs.list"
    body = assert_problem(client.get(f"/test/{tenant}/pings/P-1/jobs/list",
                                     headers=bearer(make_token(tenant, "events.write"))), 403)
    assert body["detail"] == "the token lacks the permissions jobs.read, jobs.list"
    assert client.get(f"/test/{tenant}/pings/P-1/jobs/{'0' * 26}",
                      headers=bearer(token)).status_code == 404


@pytest.mark.parametrize("query", ["count=0", "count=1001", "offset=-1", "count=abc",
                                   "offset=1.5", "extended=maybe", "count=1_0", "count=%2B5",
                                   "offset=%201", "count=%D9%A1", "count=5.0",
                                   "offset=99999999999999999999999"])
def test_malformed_paging_is_400(client: TestClient, tenant: str, make_token: MakeToken,
                                 query: str) -> None:
    token = make_token(tenant, "jobs.read", "jobs.list")
    body = assert_problem(client.get(f"/test/{tenant}/pings/P-1/jobs/list?{query}",
                                     headers=bearer(token)), 400)
    assert body["errors"][0]["field"] == query.split("=")[0]
    assert not body["errors"][0]["message"].startswith("Value error")


def test_a_tenant_that_is_not_a_uuid_is_400(client: TestClient, make_token: MakeToken,
                                           runtime: Runtime) -> None:
    with runtime.db.begin() as conn:
        from policyjobs.security.tokens import create_token

        token, _ = create_token(conn, tenants=["any"], permissions=["admin"], known=(),
                                now=runtime.clock.now())
    body = assert_problem(client.get("/test/not-a-uuid/pings/P-1/jobs/list",
                                     headers=bearer(token)), 400)
    assert body["errors"][0]["field"] == "tenantLocator"


def test_a_list_pages_in_creation_order(client: TestClient, tenant: str,
                                        make_token: MakeToken) -> None:
    token = make_token(tenant, "jobs.read", "jobs.list", "events.write")
    made = [ping(client, tenant, token, "P-7", message=str(i)) for i in range(5)]
    url = f"/test/{tenant}/pings/P-7/jobs/list"
    first = client.get(url, params={"count": 2}, headers=bearer(token)).json()
    assert first["listCompleted"] is False
    assert [i["locator"] for i in first["items"]] == made[:2]
    last = client.get(url, params={"offset": 4, "count": 2}, headers=bearer(token)).json()
    assert last == {"listCompleted": True, "items": last["items"]}
    assert [i["locator"] for i in last["items"]] == made[4:]
    bare = client.get(url, params={"extended": "false"}, headers=bearer(token)).json()
    assert [i["locator"] for i in bare] == made


def test_a_list_for_an_unknown_locator_is_empty(client: TestClient, tenant: str,
                                                make_token: MakeToken) -> None:
    token = make_token(tenant, "jobs.read", "jobs.list")
    response = client.get(f"/test/{tenant}/pings/NOPE/jobs/list", headers=bearer(token))
    assert response.json() == {"listCompleted": True, "items": []}


def test_the_app_reads_from_any_event_loop_that_serves_it(
        client: TestClient, tenant: str, make_token: MakeToken) -> None:
    """A client of its own loop (as schemathesis has) beside the test client, in turn."""
    token = make_token(tenant, "jobs.read", "jobs.list", "events.write")
    made = ping(client, tenant, token, "P-1")
    url = f"/test/{tenant}/pings/P-1/jobs/list"

    def listed(body: Any) -> list[str]:
        return [item["locator"] for item in body["items"]]  # its status may move meanwhile

    async def read() -> Any:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as other:
            return (await other.get(url, headers=bearer(token))).json()

    before = client.get(url, headers=bearer(token)).json()
    elsewhere = [asyncio.run(read()) for _ in range(2)]  # a loop, closed, then another
    after = client.get(url, headers=bearer(token)).json()

    assert [listed(body) for body in (before, *elsewhere, after)] == [[made]] * 4


def test_a_job_under_another_reference_or_tenant_is_404(
        client: TestClient, tenant: str, make_tenant: Any, make_token: MakeToken) -> None:
    token = make_token(tenant, "jobs.read", "events.write")
    job = ping(client, tenant, token, "P-1")
    assert client.get(f"/test/{tenant}/pings/P-1/jobs/{job}", headers=bearer(token)).is_success
    assert_problem(client.get(f"/test/{tenant}/pings/P-2/jobs/{job}", headers=bearer(token)), 404)
    other = make_tenant()
    other_token = make_token(other, "jobs.read")
    assert_problem(client.get(f"/test/{other}/pings/P-1/jobs/{job}",
                              headers=bearer(other_token)), 404)


def test_times_nulls_and_omissions(client: TestClient, tenant: str, make_token: MakeToken,
                                   runtime: Runtime) -> None:
    token = make_token(tenant, "jobs.read", "events.write")
    later = (runtime.clock.now() + timedelta(days=3)).isoformat()
    job = ping(client, tenant, token, "P-1", runAt=later)
    body = client.get(f"/test/{tenant}/pings/P-1/jobs/{job}", headers=bearer(token)).json()
    assert body["status"] == "running"
    assert body["completedAt"] is None  # required: present, null while running
    assert "processingErrors" not in body  # optional: omitted when absent
    assert RFC3339_MS.match(body["createdAt"])
    failed = ping(client, tenant, token, "P-2", fail=True)
    admin = make_token(tenant, "admin")
    assert client.get("/admin/idle", params={"timeout": 10}, headers=bearer(admin)).json() == {
        "idle": True}
    body = client.get(f"/test/{tenant}/pings/P-2/jobs/{failed}", headers=bearer(token)).json()
    assert body["status"] == "failed"
    assert RFC3339_MS.match(body["completedAt"])
    assert "asked to fail" in body["processingErrors"]


def test_unexpected_errors_are_500_problems(client: TestClient, tenant: str,
                                            make_token: MakeToken) -> None:
    token = make_token(tenant, "jobs.read")
    body = assert_problem(client.get(f"/test/{tenant}/pings/P-1/crash", headers=bearer(token)),
                          500)
    assert "boom" not in body["detail"]  # internals stay in the log


def test_a_body_over_one_mebibyte_is_400(client: TestClient, tenant: str,
                                         make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write")
    blob = "x" * (1024 * 1024 + 1)
    body = assert_problem(client.post(f"/platform/{tenant}/events", headers=bearer(token),
                                      content=blob), 400)
    assert "bytes" in body["detail"]


def test_the_tenant_uuid_is_canonical(client: TestClient, tenant: str,
                                      make_token: MakeToken) -> None:
    token = make_token(tenant, "jobs.read", "jobs.list")
    upper = str(uuid.UUID(tenant)).upper()
    assert client.get(f"/test/{upper}/pings/P-1/jobs/list", headers=bearer(token)).is_success
