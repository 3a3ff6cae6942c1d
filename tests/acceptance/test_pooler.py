"""Through PgBouncer in session mode, as many PostgreSQL deployments connect: migrations,
intake, a worker process (woken by `LISTEN`) and the API's reads all work, and the reads
keep their settings (read-only, one plan per statement), which a pooler refuses at startup.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from policyjobs.store.readers import PostgresReads
from policyjobs.testing.pgbouncer import start_pgbouncer
from policyjobs.testing.postgres import PostgresServer
from policyjobs.testing.waiting import wait_until
from tests.acceptance.conftest import CLOCK_START
from tests.support import api_domain
from tests.support.engine_domain import clock_of
from tests.support.http import bearer, ping
from tests.support.worker_process import worker_processes


@pytest.fixture
def pooled_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh database, reached through PgBouncer in session mode."""
    name = f"pooled{os.getpid()}"
    postgres.create_database(name)
    bouncer = start_pgbouncer(postgres, pool_mode="session")
    try:
        yield bouncer.url(name)
    finally:
        bouncer.stop()


def test_the_api_and_a_worker_process_run_through_pgbouncer(pooled_url: str,
                                                           tmp_path: Path) -> None:
    settings = Settings(database_url=pooled_url, home=tmp_path / "home", test_clock=True)
    runtime = build_runtime(settings, extra_domains=[api_domain.domain])  # migrates, pooled
    try:
        clock_of(runtime).set(CLOCK_START)
        tenant = runtime.create_tenant(runtime.tenant_configs.load(""))
        with runtime.db.begin() as conn:
            token, _ = create_token(conn, tenants=[tenant],
                                    permissions=["events.write", "jobs.read", "jobs.list"],
                                    known=runtime.permissions, now=runtime.clock.now())
        # The job is run by another process, which polls only every 30 s: what wakes it
        # sooner is PostgreSQL's NOTIFY, through the pooler.
        worker = {"POLICYJOBS_PLUGINS": "tests.support.api_domain", "POLICYJOBS_POLL": "30s",
                  "POLICYJOBS_TEST_CLOCK": "true"}
        with (worker_processes(pooled_url, tmp_path / "workers", overrides=worker),
              TestClient(create_app(runtime, run_workers=False),
                         raise_server_exceptions=False) as client):
            job = ping(client, tenant, token, "P-1")
            fetch = f"/test/{tenant}/pings/P-1/jobs/{job}"

            def finished() -> bool:
                answer = client.get(fetch, headers=bearer(token))
                assert answer.status_code == 200, answer.text
                return bool(answer.json()["status"] == "finished")

            wait_until(finished, timeout=15, what="a worker process to run the job")
            listed = client.get(f"/test/{tenant}/pings/P-1/jobs/list", headers=bearer(token))
            assert listed.status_code == 200, listed.text
            assert [item["locator"] for item in listed.json()["items"]] == [job]
            assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    finally:
        runtime.close()


def test_reads_through_pgbouncer_are_read_only_and_planned_once(pooled_url: str) -> None:
    setting = sa.select(sa.func.current_setting(sa.bindparam("name")).label("value"))

    async def settings() -> list[str]:
        reads = PostgresReads(sa.make_url(pooled_url))
        try:
            return [row.value for name in ("default_transaction_read_only", "plan_cache_mode")
                    for row in await reads.all(setting, {"name": name})]
        finally:
            await reads.close()

    assert asyncio.run(settings()) == ["on", "force_generic_plan"]
