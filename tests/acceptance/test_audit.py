"""The audit trail: each operator action recorded with who, what and when, in the action's
transaction; append-only in the store; listed over the API (filtered, with bad filters
refused) and on the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.runtime import Runtime
from policyjobs.security.models import audit_records
from tests.acceptance.test_documents import BROKEN, Docs, quote
from tests.acceptance.test_webhooks import Hooks, dashboard
from tests.support.http import MakeToken, assert_problem, bearer

AUDIT = "/admin/audit/list"


@pytest.fixture
def docs(client: TestClient, runtime: Runtime, make_token: MakeToken) -> Docs:
    """A tenant whose documents fail in every way."""
    return Docs(client, runtime, make_token, BROKEN)


def records(client: TestClient, headers: dict[str, str], **params: Any) -> list[Any]:
    """Every audit record the filters select, newest first."""
    answer = client.get(AUDIT, headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.json()["listCompleted"]
    return list(answer.json()["items"])


def test_a_retrigger_and_a_clock_move_are_recorded_with_their_token_and_jobs(
        docs: Docs, runtime: Runtime, make_token: MakeToken,
        make_tenant: Callable[[], str]) -> None:
    [event] = docs.send(quote("Q-1", trigger="validated"))
    docs.settle()
    [job] = [j for j in event["jobs"] if j["kind"] == "documents"]
    operator = make_token(docs.tenant, "documents.read", "documents.trigger", "jobs.operate")
    again = docs.client.post(docs.url(f"quote/Q-1/jobs/{job['locator']}/trigger"),
                             headers=bearer(operator))
    assert again.status_code == 200, again.text
    refused = docs.client.post(docs.url(f"quote/Q-1/jobs/{job['locator']}/trigger"),
                               headers=bearer(operator))  # running again: nothing to do
    assert refused.status_code == 409
    moved = docs.client.put("/admin/clock", headers=docs.headers,
                            json={"now": "2027-02-01T00:00:00Z"})
    assert moved.status_code == 200
    token_of = {row.id: row for row in _tokens(runtime)}

    [clock, retrigger] = records(docs.client, docs.headers)
    assert clock["action"] == "clock.move"
    assert clock["tenantLocator"] is None
    assert clock["details"]["to"].startswith("2027-02-01T00:00:00")
    assert retrigger["action"] == "documents.retrigger"
    assert retrigger["tenantLocator"] == docs.tenant
    assert retrigger["details"]["jobLocators"] == [job["locator"]]
    assert retrigger["details"]["referenceLocator"] == "Q-1"
    assert retrigger["tokenLocator"] in token_of
    assert retrigger["actor"] == token_of[retrigger["tokenLocator"]].user_id
    assert retrigger["at"].endswith("Z")
    # A tenant's operator reads its own tenant's records (not the clock's), and must say so.
    mine = records(docs.client, bearer(operator), tenantLocator=docs.tenant)
    assert [r["action"] for r in mine] == ["documents.retrigger"]
    assert_problem(docs.client.get(AUDIT, headers=bearer(operator)), 403)
    other = make_tenant()
    assert_problem(docs.client.get(AUDIT, headers=bearer(operator),
                                   params={"tenantLocator": other}), 403)


def _tokens(runtime: Runtime) -> list[Any]:
    with runtime.db.connect() as conn:
        return list(conn.execute(sa.text("SELECT id, user_id FROM tokens")))


def test_every_webhook_change_is_recorded_and_no_secret_is(
        client: TestClient, runtime: Runtime, make_token: MakeToken) -> None:
    hooks = Hooks(client, runtime, make_token)
    made = hooks.subscribe("https://8.8.8.8/in", description="ledger")
    base = f"{hooks.base}/{made['locator']}"
    assert client.patch(base, headers=hooks.headers, json={"enabled": False}).status_code == 200
    rotated = client.post(f"{base}/rotateSecret", headers=hooks.headers)
    assert rotated.status_code == 200
    assert client.delete(base, headers=hooks.headers).status_code == 204
    found = records(client, hooks.headers, tenantLocator=hooks.tenant,
                    action="webhooks.change")
    assert [r["details"]["change"] for r in found] == ["delete", "rotateSecret", "update",
                                                      "create"]
    assert {r["details"]["endpointLocator"] for r in found} == {made["locator"]}
    assert found[2]["details"]["enabled"] is False
    assert found[3]["details"]["url"] == "https://8.8.8.8/in"
    text = str(found)
    assert made["secret"] not in text
    assert rotated.json()["secret"] not in text


def test_the_trail_is_append_only_in_the_store(runtime: Runtime, client: TestClient,
                                               make_token: MakeToken) -> None:
    hooks = Hooks(client, runtime, make_token)
    hooks.subscribe("https://8.8.8.8/in")
    for change in (audit_records.update().values(actor="someone else"),
                   audit_records.delete()):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), \
                runtime.db.begin() as conn:
            conn.execute(change)
    [record] = records(client, hooks.headers)
    assert record["actor"] != "someone else"


@pytest.mark.parametrize(("params", "field"), [
    ({"action": "jobs.explode"}, "action"), ({"after": "yesterday"}, "after"),
    ({"after": "2027-01-02T00:00:00Z", "before": "2027-01-01T00:00:00Z"}, "before"),
    ({"tenantLocator": "not-a-uuid"}, "tenantLocator"),
    ({"tenantLocator": "7b0c5a53-25b4-4c4e-9a9e-0c5c0e3b6b1f"}, "tenantLocator"),
    ({"count": "0"}, "count")])
def test_a_filter_that_is_not_one_is_refused_naming_its_field(
        client: TestClient, runtime: Runtime, make_token: MakeToken, params: dict[str, str],
        field: str) -> None:
    hooks = Hooks(client, runtime, make_token)
    answer = client.get(AUDIT, headers=hooks.headers, params=params)
    assert_problem(answer, 400)
    assert field in answer.text


def test_filters_by_action_and_time_and_pages(client: TestClient, runtime: Runtime,
                                              make_token: MakeToken) -> None:
    hooks = Hooks(client, runtime, make_token)
    for when in ("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", "2027-01-03T00:00:00Z"):
        assert client.put("/admin/clock", headers=hooks.headers,
                          json={"now": when}).status_code == 200
        hooks.subscribe("https://8.8.8.8/in")
    moves = records(client, hooks.headers, action="clock.move")
    assert [m["details"]["to"][:10] for m in moves] == ["2027-01-03", "2027-01-02",
                                                        "2027-01-01"]
    window = records(client, hooks.headers, after="2027-01-02T00:00:00Z",
                     before="2027-01-03T00:00:00Z")
    assert [r["action"] for r in window] == ["webhooks.change", "clock.move"]
    first = client.get(AUDIT, headers=hooks.headers, params={"count": 2}).json()
    assert not first["listCompleted"]
    assert len(first["items"]) == 2
    rest = client.get(AUDIT, headers=hooks.headers, params={"count": 10, "offset": 2}).json()
    assert rest["listCompleted"]
    assert len(rest["items"]) == 4


def test_the_dashboard_lists_the_tenants_records_with_filters(
        client: TestClient, runtime: Runtime, make_token: MakeToken) -> None:
    hooks = Hooks(client, runtime, make_token)
    hooks.subscribe("https://8.8.8.8/in", description="ledger")
    operator = make_token(hooks.tenant, "jobs.read", "jobs.operate")
    page = dashboard(hooks, operator, "/audit")
    assert page.status_code == 200
    assert "webhooks.change" in page.text
    assert "Z</td>" in page.text  # times in RFC 3339 with Z
    filtered = dashboard(hooks, operator, "/audit", action="clock.move")
    assert "webhooks.change</td>" not in filtered.text
    assert "No records match" in filtered.text
    assert dashboard(hooks, operator, "/audit", after="soon").status_code == 400
    reader = make_token(hooks.tenant, "jobs.read")
    refused = dashboard(hooks, reader, "/audit")
    assert refused.status_code == 403
    assert "jobs.operate" in refused.text


def test_tokens_and_tenant_configurations_made_at_the_command_line_are_recorded(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYJOBS_")}
    env["POLICYJOBS_HOME"] = str(tmp_path / "home")

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "policyjobs", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    tenant = cli("tenant", "create")
    example = Path(__file__).resolve().parents[2] / "examples" / "tenant.yaml"
    cli("tenant", "configure", tenant, str(example))
    token = cli("token", "create", "--tenant", tenant, "--permissions", "jobs.operate")
    [listed] = [line.split("\t")[0] for line in cli("token", "list").splitlines()[1:]]
    cli("token", "revoke", listed)
    db = sa.create_engine(f"sqlite:///{tmp_path / 'home' / 'policyjobs.db'}")
    try:
        with db.connect() as conn:
            rows = conn.execute(sa.select(audit_records).order_by(audit_records.c.id)).all()
    finally:
        db.dispose()
    assert [r.action for r in rows] == ["tenant.configure", "tenant.configure",
                                        "token.create", "token.revoke"]
    assert rows[0].details["created"] is True
    assert rows[1].details["created"] is False
    assert rows[1].details["config"]["documents"]["definitions"]
    assert all(r.tenant == tenant for r in rows)
    assert all(r.token_locator is None and r.actor.startswith("command line: ") for r in rows)
    assert rows[2].details["tokenLocator"] == listed
    assert token not in str([r.details for r in rows])
