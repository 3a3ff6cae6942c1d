"""Stores made by earlier releases, upgraded by this one, answer as they did.

Each release under `tests/releases/` (made by `python -m tests.support.releases build`)
keeps an embedded store and a PostgreSQL one, each filled by that release's
`policyjobs demo --exit`, and what that release's read API answered for every job,
document, lattice, installment, invoice and delinquency in them. Here each store is
migrated by the code under test and asked again: every answer has the same status, and
every field it had is still there with the same value (new fields may be added).

A release may also keep its stores as a later release's `migrate` left them (made by
`python -m tests.support.releases upgrade`): the release before this one lost the
domains' job data of embedded stores (revision 0012), which revision 0016 restores, so
those stores too must answer as their own release did once this one has migrated them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.settings import Settings
from policyjobs.store.database import open_store
from policyjobs.store.migrate import alembic_config
from policyjobs.testing.postgres import PostgresServer
from tests.support import answers
from tests.support.http import bearer
from tests.support.releases import KINDS, Release, kept_releases

# Each kept store: the release's own, and the one a later release upgraded, if kept.
STORES = [(release, upgraded) for release in kept_releases()
          for upgraded in (False, True) if not upgraded or release.upgraded_by]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _store_url(release: Release, kind: str, home: Path, upgraded: bool,
               request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{home / 'policyjobs.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database(f"release_{release.directory.name}_{int(upgraded)}")
    release.load_postgres(url, upgraded=upgraded)
    return url


def _name(release: Release, upgraded: bool) -> str:
    later = release.upgraded_by
    return f"{release.directory.name}" + (f"-upgraded-by-{later[:7]}" if upgraded and later
                                          else "")


@pytest.mark.parametrize(("release", "upgraded"), STORES,
                         ids=[_name(release, upgraded) for release, upgraded in STORES])
def test_an_upgraded_store_answers_as_its_release_did(release: Release, upgraded: bool,
                                                      kind: str, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    home = release.unpack_home(kind, tmp_path, upgraded=upgraded)
    url = _store_url(release, kind, home, upgraded, request)
    before = release.answers(kind)

    runtime = build_runtime(Settings(database_url=url, home=home, test_clock=True))
    try:
        with TestClient(create_app(runtime, run_workers=False),
                        raise_server_exceptions=False) as client:
            client.headers.update(bearer(release.token(kind)))
            after = answers.take(client.get, before)
    finally:
        runtime.close()

    # Restored delinquency jobs' `updatedAt` is their job's last write, which follows the
    # lost value by milliseconds (revision 0016 says what it cannot derive).
    near = {"updatedAt": timedelta(seconds=1)} if upgraded else None
    assert answers.changes(before, after, approximate=near) == []


def test_jobs_whose_data_a_store_lost_are_left_out_never_failed(tmp_path: Path) -> None:
    """A store whose domains' job data is gone (deleted after the upgrade): no answer is a
    5xx, a fetch of such a job is 404 naming what is missing, lists leave it out, and the
    log says so once per job."""
    release = next(r for r, upgraded in STORES if upgraded)
    home = release.unpack_home("sqlite", tmp_path, upgraded=True)
    url = f"sqlite:///{home / 'policyjobs.db'}"
    _migrate_to(url, "head")
    _lose_job_data(url)
    before = release.answers("sqlite")
    runtime = build_runtime(Settings(database_url=url, home=home, test_clock=True),
                            apply_migrations=False)
    try:
        with (TestClient(create_app(runtime, run_workers=False),
                         raise_server_exceptions=False) as client,
              structlog.testing.capture_logs() as logs):
            client.headers.update(bearer(release.token("sqlite")))
            first = answers.take(client.get, before)
            again = answers.take(client.get, before)
    finally:
        runtime.close()

    assert [url for url, kept in first.items() if kept["status"] >= 500] == []
    assert first == again
    fetched = {url: kept for url, kept in first.items() if "/documents/quote/" in url
               and not url.endswith(answers.LIST)}
    assert fetched
    assert all(kept["status"] == 404 and "has no row in documents_jobs" in kept["json"]["detail"]
               for kept in fetched.values())
    listed = [kept for url, kept in first.items() if "/jobs/installments/" in url]
    assert listed
    assert all(kept["status"] == 200 and kept["json"]["items"] == [] for kept in listed)
    said = [line for line in logs if line["event"] == "jobs without their data are not shown"]
    said_jobs = [job for line in said for job in line["jobs"]]
    assert said_jobs
    assert len(said_jobs) == len(set(said_jobs))  # once each, though asked twice


def test_the_job_data_a_store_lost_is_restored_on_both_stores(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Revision 0016 on both stores: a release's store, upgraded, loses every row of the
    domains' job data as 0012 made SQLite stores lose them; once 0016's upgrade has run
    again, every answer is what it was before the loss."""
    release = max(kept_releases(), key=lambda r: r.meta["revision"])
    home = release.unpack_home(kind, tmp_path)
    url = _store_url(release, kind, home, False, request)
    _migrate_to(url, "head")
    asked = list(release.answers(kind))
    whole = _answers(url, home, release.token(kind), asked)
    _lose_job_data(url)

    db = open_store(url)
    try:
        with db.begin() as conn, Operations.context(MigrationContext.configure(conn)):
            ScriptDirectory.from_config(alembic_config()).get_revision("0016").module.upgrade()
    finally:
        db.dispose()

    restored = _answers(url, home, release.token(kind), asked)
    assert answers.changes(whole, restored,
                           approximate={"updatedAt": timedelta(seconds=1)}) == []


def _lose_job_data(url: str) -> None:
    """Delete every row of the domains' job data, as 0012 did on SQLite."""
    db = open_store(url)
    try:
        with db.begin() as conn:
            lost = sum(conn.exec_driver_sql(f"DELETE FROM {table}").rowcount
                       for table in ("documents_jobs", "installment_jobs", "invoicing_jobs",
                                     "delinquency_jobs"))
        assert lost > 0
    finally:
        db.dispose()


def _migrate_to(url: str, revision: str) -> None:
    db = open_store(url)
    try:
        config = alembic_config()
        with db.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        db.dispose()


def _answers(url: str, home: Path, token: str, urls: list[str]) -> dict[str, answers.Answer]:
    runtime = build_runtime(Settings(database_url=url, home=home, test_clock=True),
                            apply_migrations=False)
    try:
        with TestClient(create_app(runtime, run_workers=False),
                        raise_server_exceptions=False) as client:
            client.headers.update(bearer(token))
            return answers.take(client.get, urls)
    finally:
        runtime.close()
