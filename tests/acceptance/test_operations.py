"""What operators see: Prometheus metrics that move, and JSON logs that name their job or
request and never a secret."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from policyjobs.api.application import create_app
from policyjobs.engine import NewJob
from policyjobs.logs import configure_logging
from policyjobs.runtime import Runtime
from policyjobs.testing.waiting import wait_until
from tests.support import api_domain
from tests.support.engine_domain import claim_as
from tests.support.http import MakeToken, bearer, ping

SLOW = """
documents:
  timeoutSeconds: 1
  definitions:
    - {staticName: slow, name: Slow, trigger: accepted, scope: quote, format: pdf,
       template: "{% for i in range(event.data.lines) %}<p>line {{ i }}</p>{% endfor %}"}
"""


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`, by name and labels: answered at that path, as a scraper
    configured with it asks, not redirected."""
    response = client.get("/metrics", follow_redirects=False)
    assert response.status_code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """One sample's value, 0 when it is not there yet."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_every_metric_family_moves(client: TestClient, runtime: Runtime, tenant: str,
                                   make_token: MakeToken) -> None:
    kind = api_domain.KIND
    token = make_token(tenant, "events.write", "jobs.read", "jobs.list")
    runtime.stop_workers()  # a backlog first: three jobs due ten seconds ago
    earlier = runtime.clock.now() - timedelta(seconds=10)
    with runtime.db.begin() as conn:
        runtime.queue.enqueue(conn, [NewJob(kind, tenant, {"message": "x", "fail": False},
                                            run_at=earlier) for _ in range(3)])
    backlog = scrape(client)
    assert value(backlog, "policyjobs_queue_depth", kind=kind) == 3
    assert value(backlog, "policyjobs_queue_oldest_due_seconds", kind=kind) >= 10
    before = scrape(client)

    runtime.start_workers()
    ping(client, tenant, token, "P-1")
    with runtime.db.begin() as conn:  # fails once, is retried, fails for good
        [failing] = runtime.queue.enqueue(conn, [NewJob(kind, tenant, {"message": "x",
                                                                       "fail": True},
                                                        max_attempts=2)])
    wait_until(lambda: _status(runtime, failing) == "failed", what="the retried job to fail")
    runtime.stop_workers()
    with runtime.db.begin() as conn:
        runtime.queue.enqueue(conn, [NewJob(kind, tenant, {"message": "x", "fail": False})])
    claim_as(runtime, "ghost", lease=timedelta(seconds=-1))  # a worker that died
    runtime.start_workers()
    docs = runtime.create_tenant(runtime.tenant_configs.load(SLOW))
    client.post(f"/platform/{docs}/events", headers=bearer(make_token(docs, "events.write")),
                json={"type": "quote", "trigger": "accepted", "locator": "Q-1",
                      "accountLocator": "A-1", "data": {"lines": 4000}})
    client.get(f"/test/{tenant}/pings/P-1/jobs/list", headers=bearer(token))

    def unmoved() -> list[str]:
        after = scrape(client)
        return [name for name, k in (("enqueued", kind), ("started", kind), ("finished", kind),
                                     ("failed", kind), ("retried", kind), ("rescued", kind),
                                     ("timed_out", "documents"))
                if value(after, f"policyjobs_jobs_{name}_total", kind=k)
                <= value(before, f"policyjobs_jobs_{name}_total", kind=k)]

    try:
        wait_until(lambda: not unmoved(), timeout=30, interval=0.2, what="every counter")
    finally:
        assert unmoved() == []
    after = scrape(client)
    route = "/test/{tenantLocator}/pings/{locator}/jobs/list"
    assert value(after, "policyjobs_http_request_duration_seconds_count",
                 method="GET", route=route, status="200") >= 1
    assert not any(tenant in str(labels) for _, labels in after)  # templates, not paths


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """The JSON log lines that `serve` would write, in a buffer; logging put back after."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    buffer = io.StringIO()
    configure_logging("info", "json", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


def test_logs_name_their_request_and_job_and_never_a_secret(
        logged: io.StringIO, client: TestClient, runtime: Runtime,
        tenant: str, make_token: MakeToken) -> None:
    token = make_token(tenant, "events.write", "jobs.read", "jobs.list")
    secret = "PAYLOAD-SECRET-7f3a"
    response = client.post(f"/platform/{tenant}/events", headers=bearer(token),
                           json={"type": "test.ping", "locator": "P-9", "fail": True,
                                 "message": secret})
    assert response.status_code == 202
    job = response.json()["events"][0]["jobs"][0]["locator"]
    wait_until(lambda: _status(runtime, job) == "failed", what="the job to fail")
    client.get(f"/test/{tenant}/pings/P-9/jobs/list", headers=bearer(token),
               params={"count": 5})

    lines = [json.loads(line) for line in logged.getvalue().splitlines()
             if line.startswith("{")]
    text = "\n".join(json.dumps(line) for line in lines)
    requests = [line for line in lines if line.get("event") == "request"]
    assert requests
    assert all(line["request_id"] and line["route"] for line in requests)
    assert response.headers["x-request-id"] in {line["request_id"] for line in requests}
    failures = [line for line in lines if line.get("job") == job]
    assert failures
    assert all((line["tenant"], line["kind"]) == (tenant, api_domain.KIND) for line in failures)
    token_secret = token.split("_", 2)[2]
    for forbidden in (token, token_secret, hashlib.sha256(token_secret.encode()).hexdigest(),
                      hashlib.sha256(token.encode()).hexdigest(), secret):
        assert forbidden not in text


def _status(runtime: Runtime, job: str) -> str:
    with runtime.db.connect() as conn:
        return str(conn.execute(sa.text("SELECT status FROM jobs WHERE locator = :job"),
                                {"job": job}).scalar())


def test_an_unexpected_error_names_its_request_and_no_data(
        logged: io.StringIO, client: TestClient, tenant: str, make_token: MakeToken) -> None:
    token = make_token(tenant, "jobs.read")
    response = client.get(f"/test/{tenant}/pings/P-1/crash",
                          headers={**bearer(token), "X-Request-ID": "req-500-a"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-500-a"
    assert "boom" not in response.text  # what failed is in the log, not the answer
    lines = [json.loads(line) for line in logged.getvalue().splitlines()
             if line.startswith("{")]
    errors = [line for line in lines if line.get("event") == "unhandled error"]
    assert [line["request_id"] for line in errors] == ["req-500-a"]
    assert "boom" in errors[0]["exception"]
    assert any(line.get("event") == "request" and line["status"] == 500
               and line["request_id"] == "req-500-a" for line in lines)


@pytest.mark.parametrize("owns_process", [True, False])
def test_only_a_served_app_freezes_its_heap_and_only_while_it_runs(
        runtime: Runtime, owns_process: bool) -> None:
    """The app a server process serves keeps what start-up made out of the collector's sight
    (`gc.freeze`) until it stops; one embedded in another process leaves that process's heap
    alone."""
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(runtime, owns_process=owns_process)) as client:
        assert client.get("/health/live").status_code == 200
        assert (gc.get_freeze_count() > 0) is owns_process
    assert gc.get_freeze_count() == 0
