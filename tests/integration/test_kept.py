"""What a process keeps of the tenants and the webhook endpoints on PostgreSQL
(`policyjobs.store.kept`): read once, dropped as a change commits anywhere, never kept
while it cannot hear of changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from policyjobs.app import build_runtime
from policyjobs.engine import NIL_UUID, new_locator
from policyjobs.runtime import Runtime
from policyjobs.settings import Settings
from policyjobs.store.kept import TTL
from policyjobs.tenants.config import CoreConfig
from policyjobs.tenants.service import configure_tenant, get_tenant
from policyjobs.testing.waiting import wait_until
from policyjobs.webhooks.models import webhook_endpoints
from policyjobs.webhooks.service import Event, publish

CHICAGO = "timezone: America/Chicago\n"
DENVER = "timezone: America/Denver\n"
HEARD = TTL / 6  # a change heard of sooner than this was not outlived


@pytest.fixture
def two(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    """Two processes' runtimes over one store, each keeping what it reads."""
    first = build_runtime(Settings(database_url=postgres_url, home=tmp_path / "a"))
    second = build_runtime(Settings(database_url=postgres_url, home=tmp_path / "b"))
    try:
        for runtime in (first, second):
            assert runtime.kept is not None
            wait_until(partial(listens, runtime), what="the runtime to listen for changes")
        yield first, second
    finally:
        first.close()
        second.close()


def listens(runtime: Runtime) -> bool:
    return runtime.kept is not None and runtime.kept.listening


def timezone(runtime: Runtime, tenant: str) -> str:
    with runtime.db.connect() as conn:
        return get_tenant(conn, tenant).config.section(CoreConfig).timezone


def selects_of(runtime: Runtime, table: str) -> list[str]:
    """A list that gathers each SELECT of `table` the runtime's store runs from now on."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
            seen.append(statement)

    event.listen(runtime.db, "before_cursor_execute", note)
    return seen


def test_a_tenant_is_read_once_and_a_change_elsewhere_is_heard(
        two: tuple[Runtime, Runtime]) -> None:
    mine, theirs = two
    tenant = theirs.create_tenant(theirs.tenant_configs.load(CHICAGO))
    time.sleep(0.5)  # the notice of its making comes, and drops what was kept
    reads = selects_of(mine, "tenants")
    assert [timezone(mine, tenant) for _ in range(5)] == ["America/Chicago"] * 5
    assert len(reads) == 1

    theirs.configure_tenant(tenant, theirs.tenant_configs.load(DENVER))

    wait_until(lambda: timezone(mine, tenant) == "America/Denver", timeout=HEARD,
               what="the other process's change to be heard")


def test_a_transaction_that_changes_a_tenant_reads_its_change_and_its_commit_drops_it(
        two: tuple[Runtime, Runtime]) -> None:
    mine, _ = two
    tenant = mine.create_tenant(mine.tenant_configs.load(CHICAGO))
    assert timezone(mine, tenant) == "America/Chicago"  # kept now
    with mine.db.begin() as conn:
        configure_tenant(conn, tenant, mine.tenant_configs.load(DENVER))
        inside = get_tenant(conn, tenant).config.section(CoreConfig).timezone
        outside = timezone(mine, tenant)  # another transaction: the row committed, kept
    assert (inside, outside) == ("America/Denver", "America/Chicago")
    assert timezone(mine, tenant) == "America/Denver"  # at once, before any notice


def test_an_endpoint_added_elsewhere_hears_the_next_event(
        two: tuple[Runtime, Runtime]) -> None:
    mine, theirs = two
    tenant = theirs.create_tenant(theirs.tenant_configs.load(""))
    assert not published(mine, tenant)  # no endpoint wants it; none is kept
    now = datetime.now(UTC)
    with theirs.db.begin() as conn:
        conn.execute(webhook_endpoints.insert().values(
            locator=new_locator(), tenant=tenant, url="https://example.com/hook",
            event_types=[], enabled=True, secret="sealed", key_id="k", created_by=NIL_UUID,
            created_at=now, updated_at=now))
    wait_until(lambda: published(mine, tenant), timeout=HEARD,
               what="the new endpoint to be heard of")


def test_nothing_read_while_deaf_is_kept(two: tuple[Runtime, Runtime],
                                         postgres_url: str) -> None:
    mine, theirs = two
    kept = mine.kept
    assert kept is not None
    tenant = theirs.create_tenant(theirs.tenant_configs.load(CHICAGO))
    assert timezone(mine, tenant) == "America/Chicago"
    url = sa.make_url(postgres_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE query LIKE %s OR query LIKE %s",
                      ("LISTEN policyjobs_changes%", "SELECT count(*) FROM pg_trigger%"))
    wait_until(lambda: not kept.listening, what="the lost connection to be noticed")
    theirs.configure_tenant(tenant, theirs.tenant_configs.load(DENVER))  # unheard
    assert timezone(mine, tenant) == "America/Denver"  # read from the store meanwhile
    wait_until(lambda: kept.listening, what="it to listen again")
    assert timezone(mine, tenant) == "America/Denver"


def published(runtime: Runtime, tenant: str) -> bool:
    """Whether an invoice's event of the tenant is recorded: some endpoint wants it."""
    with runtime.db.begin() as conn:
        return bool(publish(conn, runtime.queue, tenant=tenant, at=datetime.now(UTC), events=[
            Event("invoicing.invoice.generated", {"invoiceLocator": "I-1",
                                                  "accountLocator": "A-1"})]))
