"""The real app over a real store, with its workers, driven through HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.runtime import Runtime
from policyjobs.security.tokens import create_token
from policyjobs.settings import Settings
from tests.support import api_domain
from tests.support.engine_domain import clock_of, drifted_marks
from tests.support.http import MakeToken

CLOCK_START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def documents_url() -> str | None:
    """Where the runtime keeps rendered documents: None, the folder under its home (a
    module that tests documents on both storages overrides this)."""
    return None


@pytest.fixture
def runtime(database_url: str, documents_url: str | None, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime with the test clock and the ping domain, its files under `tmp_path`."""
    settings = Settings(database_url=database_url, home=tmp_path / "home",
                        documents_url=documents_url,
                        test_clock=True, poll="100ms", lease="5s", upkeep="200ms")
    built = build_runtime(settings, extra_domains=[api_domain.domain])
    clock_of(built).set(CLOCK_START)  # the same business time whenever the tests run
    try:
        yield built
        assert drifted_marks(built.db) == [], "job_marks no longer match the jobs"
    finally:
        built.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """An HTTP client of the app, whose lifespan runs the workers."""
    with TestClient(create_app(runtime, run_workers=True), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def make_tenant(runtime: Runtime) -> Callable[[], str]:
    """Creates tenants with the default configuration."""

    def make() -> str:
        return runtime.create_tenant(runtime.tenant_configs.load(""))

    return make


@pytest.fixture
def tenant(make_tenant: Callable[[], str]) -> str:
    """One tenant."""
    return make_tenant()


@pytest.fixture
def make_token(runtime: Runtime) -> MakeToken:
    """Creates tokens: `make_token(tenant, "jobs.read", ...)`."""
    return token_maker(runtime)


def token_maker(runtime: Runtime) -> MakeToken:
    """What `make_token` is, for any runtime (one a test builds itself, too)."""

    def make(tenant: str, *permissions: str, expires_at: datetime | None = None) -> str:
        with runtime.db.begin() as conn:
            text, _ = create_token(conn, tenants=[tenant], permissions=list(permissions),
                                   known=runtime.permissions, now=runtime.clock.now(),
                                   expires_at=expires_at)
        return text

    return make
