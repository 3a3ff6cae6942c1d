"""The migrations, with pytest-alembic, on both stores: one head, an upgrade from nothing,
the tables the code declares, and every row kept by every revision.

pytest-alembic's runner drives `policyjobs.store.migrate.run_revisions` (the code
`policyjobs migrate` runs) through `env.py`; its built-in tests are called here rather
than collected by its plugin, so that each runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_alembic
import pytest_alembic.tests
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pytest_alembic.config import Config
from pytest_alembic.plugin.error import AlembicTestFailure
from pytest_alembic.runner import MigrationContext

import policyjobs.app  # noqa: F401 - imports every domain, so each declares its tables
from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.settings import Settings
from policyjobs.store.database import open_store
from policyjobs.store.migrate import alembic_config, at_head, head_revision, migrate
from policyjobs.store.schema import metadata
from tests.support import answers
from tests.support.http import bearer
from tests.support.revision_rows import Scenario, scenario


@pytest.fixture
def store(empty_database_url: str) -> Iterator[sa.Engine]:
    """An empty store, opened as the product opens it."""
    db = open_store(empty_database_url)
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def runner(db: sa.Engine) -> Iterator[MigrationContext]:
    """pytest-alembic's runner over the store's migrations and its declared tables."""
    config = Config(config_options={"target_metadata": metadata}, alembic_config=alembic_config())
    with pytest_alembic.runner(config=config, engine=db) as alembic:
        yield alembic


def test_the_history_has_one_head(store: sa.Engine) -> None:
    with runner(store) as alembic:
        pytest_alembic.tests.test_single_head_revision(alembic)


def test_an_empty_store_upgrades_to_head(store: sa.Engine) -> None:
    with runner(store) as alembic:
        pytest_alembic.tests.test_upgrade(alembic)
        assert alembic.current == alembic.heads[0]


def test_the_migrations_build_the_declared_tables(store: sa.Engine) -> None:
    with runner(store) as alembic:
        pytest_alembic.tests.test_model_definitions_match_ddl(alembic)


def test_a_drift_between_them_is_found(store: sa.Engine) -> None:
    with runner(store) as alembic:
        alembic.migrate_up_to("heads")
        with store.begin() as conn:
            conn.exec_driver_sql("DROP INDEX documents_tenant")
            conn.exec_driver_sql("CREATE TABLE stray (id INTEGER PRIMARY KEY)")

        with pytest.raises(AlembicTestFailure) as failure:
            pytest_alembic.tests.test_model_definitions_match_ddl(alembic)

    shown = str(failure.value.context)
    assert "documents_tenant" in shown
    assert "stray" in shown


def test_every_revision_keeps_every_row(store: sa.Engine, tmp_path: Path) -> None:
    """At each revision, one tenant's business goes in, in that revision's schema; no later
    revision loses a row of a table it keeps, and at head the API reads all of it."""
    scenarios: list[Scenario] = []
    with runner(store) as alembic:
        kept: dict[str, int] = {}
        while (revision := alembic.migrate_up_one()) is not None:
            counts = _counts(store)
            lost = {table: f"{before} → {counts[table]}" for table, before in kept.items()
                    if table in counts and counts[table] < before}
            assert lost == {}, f"revision {revision} lost rows"
            made = scenario(revision, _columns(store))
            _insert(alembic, store, made.rows)
            scenarios.append(made)
            kept = _counts(store)
        assert alembic.current == alembic.heads[0]
    with store.connect() as conn:  # each queued job's queue row knows its tenant and lane
        queue = conn.exec_driver_sql(
            "SELECT j.kind, q.tenant = j.tenant, q.lane, coalesce(j.lane, q.lane) "
            "FROM job_queue AS q JOIN jobs AS j ON j.id = q.id").all()
    lanes = {"documents": 0, "delinquency.grace": 2, "delinquency.event": 2}
    assert {(kind, True, lanes[kind], lanes[kind]) for kind, *_ in queue} == set(queue)

    runtime = build_runtime(Settings(database_url=str(store.url.render_as_string(False)),
                                     home=tmp_path / "home", test_clock=True))
    try:
        with TestClient(create_app(runtime, run_workers=False),
                        raise_server_exceptions=False) as client:
            _read_back(client, store, scenarios)
    finally:
        runtime.close()


def _read_back(client: TestClient, db: sa.Engine, scenarios: list[Scenario]) -> None:
    """Each scenario's objects answer with their locators, and no read of anything in the
    store fails."""
    tokens = {made.tenant: made.token for made in scenarios}
    missed = []
    for made in scenarios:
        for url, locator in made.answers.items():
            response = client.get(url, headers=bearer(made.token))
            if response.status_code != 200 or locator not in response.text:
                missed.append(f"{made.revision} {url}: {response.status_code} "
                              f"{response.text[:200]}")
    assert missed == [], "\n".join(missed)
    failed = []
    for url in answers.plan_urls(db):
        response = client.get(url, headers=bearer(tokens[url.split("/")[2]]))
        if response.status_code >= 500:
            failed.append(f"{url}: {response.status_code}")
    assert failed == []


def _counts(db: sa.Engine) -> dict[str, int]:
    with db.connect() as conn:
        names = [name for name in sa.inspect(conn).get_table_names() if name != "alembic_version"]
        return {name: conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar_one()
                for name in names}


def _columns(db: sa.Engine) -> dict[str, set[str]]:
    with db.connect() as conn:
        inspector = sa.inspect(conn)
        return {name: {column["name"] for column in inspector.get_columns(name)}
                for name in inspector.get_table_names()}


def _insert(alembic: MigrationContext, db: sa.Engine, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` with pytest-alembic, the jobs first: a row that names a job by its id
    (`job_queue`, `job_marks`) learns it once the job's row is in."""
    later = [row for row in rows if row["__tablename__"] in ("job_queue", "job_marks")]
    alembic.insert_into(None, [row for row in rows if row not in later])
    if later:
        with db.connect() as conn:
            ids: dict[str, int] = dict(conn.exec_driver_sql("SELECT locator, id FROM jobs").all())
        alembic.insert_into(None, [{**row, "id": ids[row["id"].locator]} for row in later])


def test_the_head_named_by_the_files_is_alembics(store: sa.Engine) -> None:
    """`migrate` tells a store at its head by the revisions' file numbers, without Alembic."""
    with runner(store) as alembic:
        assert alembic.heads == [head_revision()]
    assert not at_head(store)  # a fresh store has no version table
    migrate(store)
    assert at_head(store)
    with store.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0023'")
    assert not at_head(store)
