"""A restart of PostgreSQL under the API: no 500, a retry where it is safe, 503 while it is down.

The server is this module's own, since the test stops it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.runtime import Runtime
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from policyjobs.testing.postgres import PostgresServer, start_postgres
from policyjobs.testing.waiting import wait_until
from tests.acceptance.conftest import CLOCK_START
from tests.support import api_domain
from tests.support.engine_domain import clock_of
from tests.support.http import assert_problem, bearer, ping


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    started = start_postgres()  # in a folder of its own, which its OS user can enter
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def runtime(server: PostgresServer, tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(database_url=server.create_database("outage"), home=tmp_path / "home",
                        test_clock=True, poll="100ms", lease="5s", upkeep="200ms")
    built = build_runtime(settings, extra_domains=[api_domain.domain])
    clock_of(built).set(CLOCK_START)
    try:
        yield built
    finally:
        built.close()


def test_a_restart_heals_and_an_outage_answers_503(server: PostgresServer,
                                                   runtime: Runtime) -> None:
    tenant = runtime.create_tenant(runtime.tenant_configs.load(""))
    with runtime.db.begin() as conn:
        token, _ = create_token(conn, tenants=[tenant], permissions=["events.write", "jobs.read",
                                                                       "jobs.list"],
                                known=runtime.permissions, now=runtime.clock.now())
    listing = f"/test/{tenant}/pings/P-1/jobs/list"
    with TestClient(create_app(runtime, run_workers=True), raise_server_exceptions=False) as client:
        first = ping(client, tenant, token, "P-1")
        assert client.get(listing, headers=bearer(token)).status_code == 200

        # Every pooled connection is broken; the read runs again on a fresh one.
        server.halt()
        server.resume()
        listed = client.get(listing, headers=bearer(token))
        assert listed.status_code == 200, listed.text
        assert [job["locator"] for job in listed.json()["items"]] == [first]

        # The same for a write: its first statement failed, so nothing was committed.
        server.halt()
        server.resume()
        second = ping(client, tenant, token, "P-1")

        server.halt()
        for answer in (client.get(listing, headers=bearer(token)),
                       client.post(f"/platform/{tenant}/events", headers=bearer(token),
                                   json={"type": "test.ping", "locator": "P-2"})):
            assert_problem(answer, 503)
            assert answer.headers["Retry-After"].isdigit()
        health = assert_problem(client.get("/health"), 503)
        assert health["database"] == "down"

        server.resume()
        assert client.get("/health").json() == {"status": "ok", "database": "ok"}
        third = ping(client, tenant, token, "P-2")
        fetch = f"/test/{tenant}/pings/P-2/jobs/{third}"
        wait_until(lambda: client.get(fetch, headers=bearer(token)).json()["status"] == "finished",
                   timeout=20, what="the workers to run a job after the outage")
        items = client.get(listing, headers=bearer(token)).json()["items"]
        assert [job["locator"] for job in items] == [first, second]


def test_a_worker_started_while_the_store_is_away_comes_up_with_it(
        server: PostgresServer, tmp_path: Path) -> None:
    """`policyjobs worker` started during a restart of PostgreSQL waits for it, then
    migrates and runs, instead of exiting: a supervisor's replacement can start at any time."""
    url = server.create_database("late")
    log = tmp_path / "worker.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("POLICYJOBS_")},
           "POLICYJOBS_DATABASE_URL": url, "POLICYJOBS_HOME": str(tmp_path / "home"),
           "POLICYJOBS_LOG_FORMAT": "console"}
    server.halt()
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "policyjobs", "worker"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "the store cannot be reached" in log.read_text(errors="replace"),
                   timeout=20)
        server.resume()
        engine = sa.create_engine(url)
        try:
            def migrated() -> bool:
                with engine.connect() as conn:
                    return bool(conn.execute(sa.text(
                        "SELECT count(*) FROM pg_tables WHERE tablename = 'alembic_version'"
                    )).scalar())
            wait_until(migrated, timeout=30)
        finally:
            engine.dispose()
        assert worker.poll() is None, log.read_text(errors="replace")
    finally:
        worker.terminate()
        worker.wait(timeout=60)
