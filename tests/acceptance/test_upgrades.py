"""Stores made by earlier releases, upgraded by this one, answer as they did.

Each release under `tests/releases/` (made by `python -m tests.support.releases build`)
keeps an embedded store and a PostgreSQL one, each filled by that release's
`policyjobs demo --exit`, and what that release's read API answered for every job,
document, lattice, installment, invoice and delinquency in them. Here each store is
migrated by the code under test and asked again: every answer has the same status, and
every field it had is still there with the same value (new fields may be added).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.settings import Settings
from policyjobs.testing.postgres import PostgresServer
from tests.support import answers
from tests.support.http import bearer
from tests.support.releases import KINDS, Release, kept_releases

RELEASES = kept_releases()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _store_url(release: Release, kind: str, home: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{home / 'policyjobs.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database(f"release_{release.directory.name}")
    release.load_postgres(url)
    return url


@pytest.mark.parametrize("release", RELEASES, ids=[r.directory.name for r in RELEASES])
def test_an_upgraded_store_answers_as_its_release_did(release: Release, kind: str,
                                                      tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    home = release.unpack_home(kind, tmp_path)
    url = _store_url(release, kind, home, request)
    before = release.answers(kind)

    runtime = build_runtime(Settings(database_url=url, home=home, test_clock=True))
    try:
        with TestClient(create_app(runtime, run_workers=False),
                        raise_server_exceptions=False) as client:
            client.headers.update(bearer(release.token(kind)))
            after = answers.take(client.get, before)
    finally:
        runtime.close()

    assert answers.changes(before, after) == []
