"""Operators' actions on jobs over the API: bulk retry and cancel by filter (counted, run as
a job of their own, safe to run twice), pausing and resuming a kind, what a token without
`admin` may do, the bad filters refused, and the audit record of each action."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.engine import NewJob
from policyjobs.engine.schema import job_states
from policyjobs.operations.models import operations_bulk
from policyjobs.runtime import Runtime
from tests.acceptance.test_webhooks import dashboard
from tests.support.api_domain import KIND as PING
from tests.support.engine_domain import clock_of
from tests.support.http import MakeToken, assert_problem, bearer, ping

LATER = "2030-01-01T00:00:00Z"  # a run-at no test reaches
LATER_AT = datetime(2030, 1, 1, tzinfo=UTC)


class Operator:
    """An admin driving the operations API for one tenant's pings."""

    def __init__(self, client: TestClient, runtime: Runtime, make_token: MakeToken,
                 tenant: str) -> None:
        self.client, self.runtime, self.tenant = client, runtime, tenant
        self.token = make_token(tenant, "events.write", "jobs.read", "admin")
        self.headers = bearer(self.token)

    def ping(self, locator: str, **fields: Any) -> str:
        return ping(self.client, self.tenant, self.token, locator, **fields)

    def settle(self) -> None:
        idle = self.client.get("/admin/idle", params={"timeout": 60}, headers=self.headers)
        assert idle.json() == {"idle": True}

    def act(self, action: str, headers: dict[str, str] | None = None,
            **body: Any) -> dict[str, Any]:
        answer = self.client.post(f"/admin/jobs/{action}", headers=headers or self.headers,
                                  json={"tenantLocator": self.tenant, **body})
        assert answer.status_code == (200 if body.get("dryRun") else 202), answer.text
        return dict(answer.json())

    def bulk(self, job: str) -> dict[str, Any]:
        self.settle()
        answer = self.client.get(f"/admin/jobs/bulk/{job}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def states(self, *locators: str) -> list[tuple[str, int]]:
        with self.runtime.db.connect() as conn:
            rows = conn.execute(sa.select(job_states.c.locator, job_states.c.status,
                                          job_states.c.attempt)
                                .where(job_states.c.locator.in_(locators))).all()
        found = {row.locator: (row.status, row.attempt) for row in rows}
        return [found[locator] for locator in locators]

    def audit(self, action: str) -> list[dict[str, Any]]:
        answer = self.client.get("/admin/audit/list", headers=self.headers,
                                 params={"action": action})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])


@pytest.fixture
def operator(client: TestClient, runtime: Runtime, make_token: MakeToken,
             tenant: str) -> Operator:
    return Operator(client, runtime, make_token, tenant)


def test_a_bulk_retry_counts_then_reruns_the_failed_jobs_and_a_second_skips_them(
        operator: Operator) -> None:
    failed = [operator.ping(f"P-{n}", fail=True) for n in range(3)]
    fine = operator.ping("P-ok")
    operator.settle()
    assert operator.states(*failed) == [("failed", 1)] * 3

    assert operator.act("retry", kind=PING, status="failed", dryRun=True) == {"matched": 3}
    asked = operator.act("retry", kind=PING, status="failed")
    assert asked["matched"] == 3
    done = operator.bulk(asked["jobLocator"])
    assert (done["acted"], done["skipped"], done["finishedAt"] is not None) == (3, {}, True)
    assert operator.states(*failed) == [("failed", 2)] * 3  # ran again, failed again

    # Over every status: the finished one (and the bulk job itself) are skipped, counted.
    again = operator.act("retry", referenceLocator="P-ok")
    assert operator.bulk(again["jobLocator"])["skipped"] == {"not failed: finished": 1}
    assert operator.states(fine) == [("finished", 1)]
    [second, first] = operator.audit("jobs.retry")
    assert first["details"]["jobLocator"] == asked["jobLocator"]
    assert first["details"]["filter"] == {"tenantLocator": operator.tenant, "kind": PING,
                                          "status": "failed"}
    assert (first["details"]["matched"], first["tenantLocator"]) == (3, operator.tenant)
    assert second["details"]["jobLocator"] == again["jobLocator"]


def test_a_bulk_cancel_takes_the_jobs_not_started_and_skips_the_ended(
        operator: Operator) -> None:
    waiting = [operator.ping(f"W-{n}", runAt=LATER) for n in range(2)]
    ended = operator.ping("E-1")
    operator.settle()
    asked = operator.act("cancel", jobLocators=[*waiting, ended])
    assert asked["matched"] == 3
    done = operator.bulk(asked["jobLocator"])
    assert (done["acted"], done["skipped"]) == (2, {"already ended: finished": 1})
    assert operator.states(*waiting, ended) == [("cancelled", 0)] * 2 + [("finished", 1)]
    twice = operator.act("cancel", jobLocators=waiting)
    assert operator.bulk(twice["jobLocator"])["skipped"] == {"already ended: cancelled": 2}
    assert [r["details"]["matched"] for r in operator.audit("jobs.cancel")] == [2, 3]


def test_a_paused_kind_is_not_claimed_until_resumed(operator: Operator) -> None:
    made = operator.client.post("/admin/pauses", headers=operator.headers,
                                json={"kind": PING, "tenantLocator": operator.tenant})
    assert made.status_code == 201, made.text
    pause = made.json()
    assert (pause["kind"], pause["tenantLocator"]) == (PING, operator.tenant)
    same = operator.client.post("/admin/pauses", headers=operator.headers,
                                json={"kind": PING, "tenantLocator": operator.tenant})
    assert (same.status_code, same.json()["locator"]) == (200, pause["locator"])
    held = operator.ping("H-1")
    operator.settle()  # idle: a paused job is not work
    assert operator.states(held) == [("queued", 0)]
    listed = operator.client.get("/admin/pauses/list", headers=operator.headers).json()
    assert [p["locator"] for p in listed["items"]] == [pause["locator"]]
    metrics = operator.client.get("/metrics").text
    assert f'policyjobs_paused{{kind="{PING}",tenant="{operator.tenant}"}} 1.0' in metrics

    gone = operator.client.delete(f"/admin/pauses/{pause['locator']}", headers=operator.headers)
    assert gone.status_code == 204, gone.text
    operator.settle()
    assert operator.states(held) == [("finished", 1)]
    assert_problem(operator.client.delete(f"/admin/pauses/{pause['locator']}",
                                          headers=operator.headers), 404)
    assert [r["action"] for r in operator.audit("pause") + operator.audit("resume")] == [
        "pause", "resume"]


def test_a_pause_for_every_tenant_holds_each_until_its_own_pause_is_lifted_too(
        operator: Operator, make_tenant: Callable[[], str], make_token: MakeToken) -> None:
    every = operator.client.post("/admin/pauses", headers=operator.headers,
                                 json={"kind": PING}).json()
    mine = operator.client.post("/admin/pauses", headers=operator.headers,
                                json={"kind": PING, "tenantLocator": operator.tenant}).json()
    other = Operator(operator.client, operator.runtime, make_token, make_tenant())
    held, theirs = operator.ping("H-1"), other.ping("H-2")
    operator.settle()
    operator.client.delete(f"/admin/pauses/{every['locator']}", headers=operator.headers)
    operator.settle()
    assert operator.states(held, theirs) == [("queued", 0), ("finished", 1)]
    operator.client.delete(f"/admin/pauses/{mine['locator']}", headers=operator.headers)
    operator.settle()
    assert operator.states(held) == [("finished", 1)]


def test_a_token_without_admin_acts_only_on_a_tenant_it_holds(
        operator: Operator, make_token: MakeToken, make_tenant: Callable[[], str]) -> None:
    local = bearer(make_token(operator.tenant, "jobs.operate"))
    failed = operator.ping("F-1", fail=True)
    operator.settle()
    operator.act("retry", headers=local, jobLocators=[failed])
    other = make_tenant()
    for path, body in (("/admin/jobs/retry", {"kind": PING}),
                       ("/admin/jobs/cancel", {"tenantLocator": other}),
                       ("/admin/pauses", {"kind": PING}),
                       ("/admin/pauses", {"kind": PING, "tenantLocator": other})):
        assert_problem(operator.client.post(path, headers=local, json=body), 403)
    every = operator.client.post("/admin/pauses", headers=operator.headers,
                                 json={"kind": PING}).json()
    assert_problem(operator.client.delete(f"/admin/pauses/{every['locator']}",
                                          headers=local), 403)
    assert_problem(operator.client.get("/admin/jobs/retry", headers=local), 405)


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "no.such.kind"}, "kind"),
    ({"status": "sleeping"}, "status"),
    ({"tenantLocator": "00000000-0000-4000-8000-000000000000"}, "tenantLocator"),
    ({"createdAfter": "2027-01-02T00:00:00Z", "createdBefore": "2027-01-01T00:00:00Z"},
     "createdBefore"),
    ({"createdAfter": "2027-01-02T00:00:00"}, "createdAfter"),
    ({}, "all"),
    ({"jobLocators": []}, "jobLocators"),
    ({"jobLocators": ["01\u0000NUL"]}, "jobLocators"),
    ({"referenceLocator": "Q\u00001"}, "referenceLocator"),
    ({"kind": PING, "extra": 1}, "extra"),
])
def test_a_bad_filter_is_refused_naming_its_field_and_nothing_is_done(
        operator: Operator, body: dict[str, Any], field: str) -> None:
    for action in ("retry", "cancel"):
        problem = assert_problem(operator.client.post(f"/admin/jobs/{action}",
                                                      headers=operator.headers, json=body), 400)
        assert field in {e["field"].split(".")[0].split("[")[0] for e in problem["errors"]}, \
            problem
    with operator.runtime.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(operations_bulk)).scalar() == 0
    assert operator.audit("jobs.retry") == []


def test_a_bad_pause_is_refused_naming_its_field(operator: Operator) -> None:
    for body, field in (({"kind": "no.such.kind"}, "kind"),
                        ({"kind": PING, "tenantLocator": "00000000-0000-4000-8000-000000000000"},
                         "tenantLocator"), ({}, "kind")):
        problem = assert_problem(operator.client.post("/admin/pauses", headers=operator.headers,
                                                      json=body), 400)
        assert field in {e["field"] for e in problem["errors"]}, problem


def test_a_bulk_cancel_over_ten_thousand_jobs_agrees_with_the_dashboards_count(
        operator: Operator, make_token: MakeToken) -> None:
    runtime, clock = operator.runtime, clock_of(operator.runtime)
    first = clock.now()
    for batch in range(2):  # 5,000 jobs an hour apart, all due in 2030
        with runtime.db.begin() as conn:
            runtime.queue.enqueue(conn, [
                NewJob(PING, operator.tenant, {"message": "later"}, run_at=LATER_AT)
                for _ in range(5_000)])
        clock.set(first + timedelta(hours=batch + 1))
    middle = (first + timedelta(minutes=30)).isoformat()
    viewer = make_token(operator.tenant, "jobs.read", "jobs.list", "jobs.operate")
    shown = dashboard(operator, viewer, "/jobs/bulk", action="cancel", kind=PING,
                      status="queued")
    assert "10000</strong> jobs" in shown.text
    shown = dashboard(operator, viewer, "/jobs/bulk", action="cancel", kind=PING,
                      status="queued", after=middle)
    assert "5000</strong> jobs" in shown.text
    assert operator.act("cancel", kind=PING, status="queued", dryRun=True) == {
        "matched": 10_000}

    newer = operator.act("cancel", kind=PING, createdAfter=middle)
    assert newer["matched"] == 5_000
    assert operator.bulk(newer["jobLocator"])["acted"] == 5_000
    every = operator.act("cancel", kind=PING)
    done = operator.bulk(every["jobLocator"])
    assert (done["matched"], done["acted"], done["skipped"]) == (
        10_000, 5_000, {"already ended: cancelled": 5_000})
    with runtime.db.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(job_states)
                            .where(job_states.c.kind == PING,
                                   job_states.c.status != "cancelled")).scalar()
    assert left == 0
