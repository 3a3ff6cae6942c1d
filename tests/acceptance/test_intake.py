"""`POST /platform/{tenantLocator}/events`: envelopes, whole-batch rejection, idempotency."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.engine.schema import jobs
from policyjobs.runtime import Runtime
from tests.support.http import MakeToken, assert_problem, bearer


def job_count(runtime: Runtime) -> int:
    """How many jobs the store holds."""
    with runtime.db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one())


def post(client: TestClient, tenant: str, token: str, body: Any) -> Any:
    """Post `body` to the tenant's events endpoint."""
    return client.post(f"/platform/{tenant}/events", headers=bearer(token), json=body)


def test_one_event_makes_its_job(client: TestClient, runtime: Runtime, tenant: str,
                                 make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write")
    response = post(client, tenant, token, {"type": "test.ping", "locator": "P-1"})
    assert response.status_code == 202
    [receipt] = response.json()["events"]
    assert "eventId" not in receipt
    assert [j["kind"] for j in receipt["jobs"]] == ["ping"]
    assert job_count(runtime) == 1


def test_a_batch_makes_every_job(client: TestClient, runtime: Runtime, tenant: str,
                                 make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write")
    events = [{"type": "test.ping", "locator": f"P-{i}", "eventId": f"e-{i}"} for i in range(50)]
    response = post(client, tenant, token, {"events": events})
    assert response.status_code == 202
    assert [r["eventId"] for r in response.json()["events"]] == [f"e-{i}" for i in range(50)]
    assert job_count(runtime) == 50


def test_one_bad_event_rejects_the_batch_whole(client: TestClient, runtime: Runtime,
                                               tenant: str, make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write")
    events = [{"type": "test.ping", "locator": "P-1"},
              {"type": "test.ping", "locator": "bad locator!"},
              {"type": "test.ping", "locator": "P-3", "surprise": 1},
              {"type": "no.such.type"}]
    body = assert_problem(post(client, tenant, token, {"events": events}), 400)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"events[1].locator", "events[2].surprise", "events[3].type"}
    assert job_count(runtime) == 0


def test_malformed_envelopes_are_400(client: TestClient, tenant: str,
                                     make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write")
    bodies: list[object] = [
        [], [1], {"events": []}, {"events": {}}, {"events": [1]}, "text", None,
        {"events": [{"type": "test.ping", "locator": "P"}], "extra": 1},
        {"type": "test.ping"}, {"type": 7}]
    for body in bodies:
        assert_problem(post(client, tenant, token, body), 400)
    response = client.post(f"/platform/{tenant}/events", headers={
        **bearer(token), "Content-Type": "application/json"}, content=b"{not json")
    assert_problem(response, 400)


def test_a_batch_holds_at_most_1000_events(client: TestClient, tenant: str,
                                           make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write")
    events = [{"type": "test.ping", "locator": f"P-{i}"} for i in range(1001)]
    body = assert_problem(post(client, tenant, token, {"events": events}), 400)
    assert body["errors"][0]["field"] == "events"


def test_an_event_id_makes_a_replay_create_nothing(client: TestClient, runtime: Runtime,
                                                   tenant: str, make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write")
    event = {"type": "test.ping", "locator": "P-1", "eventId": "evt-1"}
    first = post(client, tenant, token, event).json()
    again = post(client, tenant, token, {"events": [event, event]}).json()
    assert again["events"] == [first["events"][0]] * 2
    assert job_count(runtime) == 1


def test_an_event_id_sent_again_with_other_content_is_409(
        client: TestClient, runtime: Runtime, tenant: str, make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write")
    event = {"type": "test.ping", "locator": "P-1", "eventId": "evt-1"}
    first = post(client, tenant, token, event).json()
    same = post(client, tenant, token, {"eventId": "evt-1", "locator": "P-1",
                                        "type": "test.ping"})  # keys in another order
    assert same.json() == first
    for body, field in (
            ({**event, "locator": "P-2"}, "events[0].eventId"),
            ({"events": [{"type": "test.ping", "locator": "P-3", "eventId": "evt-2"},
                         {"type": "test.ping", "locator": "P-4", "eventId": "evt-2"}]},
             "events[1].eventId")):
        problem = assert_problem(post(client, tenant, token, body), 409)
        assert [e["field"] for e in problem["errors"]] == [field]
    assert job_count(runtime) == 1  # the refused batch wrote nothing, its first event neither


def test_event_ids_are_per_tenant(client: TestClient, runtime: Runtime, tenant: str,
                                  make_tenant: Any, make_token: MakeToken) -> None:
    other = make_tenant()
    event = {"type": "test.ping", "locator": "P-1", "eventId": "evt-1"}
    post(client, tenant, make_token(tenant, "events.write"), event)
    post(client, other, make_token(other, "events.write"), event)
    assert job_count(runtime) == 2


def test_intake_needs_events_write(client: TestClient, tenant: str,
                                   make_token: MakeToken) -> None:
    token = make_token(tenant, "jobs.read", "jobs.list")
    assert_problem(post(client, tenant, token, {"type": "test.ping", "locator": "P"}), 403)


def test_a_retired_tenant_takes_no_events(client: TestClient, runtime: Runtime, tenant: str,
                                          make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write")
    assert runtime.retire_tenant(tenant) is True
    assert runtime.retire_tenant(tenant) is False
    body = assert_problem(post(client, tenant, token, {"type": "test.ping", "locator": "P"}), 409)
    assert "retired" in body["detail"]
    assert job_count(runtime) == 0


def test_an_unknown_tenant_is_404(client: TestClient, runtime: Runtime) -> None:
    from policyjobs.security.tokens import create_token

    with runtime.db.begin() as conn:
        token, _ = create_token(conn, tenants=["any"], permissions=["events.write"],
                                known=runtime.permissions,
                                now=runtime.clock.now())
    missing = "3f0c5a8e-8a7e-4a36-9a3a-1f2f0c3f9b11"
    assert_problem(post(client, missing, token, {"type": "test.ping", "locator": "P"}), 404)
