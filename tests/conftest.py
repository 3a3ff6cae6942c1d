"""Fixtures shared by every layer: a real store on SQLite and on PostgreSQL.

A store at the schema's head is a copy of one migrated once per test process (a SQLite file
copied, a PostgreSQL database made from a template), so no test pays for the migrations;
the tests of migrating ask for `empty_database_url`.
"""

from __future__ import annotations

import io
import itertools
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TextIO, cast

import pytest

from policyjobs.logs import configure_logging
from policyjobs.store.database import open_store
from policyjobs.store.migrate import migrate
from policyjobs.testing.postgres import PostgresServer, start_postgres
from policyjobs.testing.s3 import S3Server, s3_server

_databases = itertools.count()
STORES = ["sqlite", "postgresql"]


class _Stderr(io.TextIOBase):
    """Whatever `sys.stderr` is when a line is written: pytest's capture of each test. A line
    that a thread writes between two tests, while nothing captures, is dropped: it would
    land among pytest's dots."""

    def write(self, text: str) -> int:
        if sys.stderr is sys.__stderr__:
            return len(text)
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def pytest_configure(config: pytest.Config) -> None:
    """The code under test logs as the command line sets it up (`configure_logging`), not
    through structlog's defaults, which draw each traceback with Rich."""
    configure_logging("info", "console", stream=cast(TextIO, _Stderr()))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole run, started by the tests themselves."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated to the head, in one file, to copy."""
    path = tmp_path_factory.mktemp("template") / "policyjobs.db"
    _migrated(f"sqlite:///{path}")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    """The name of a PostgreSQL database migrated to the head, to copy."""
    name = f"template{os.getpid()}"
    _migrated(postgres.create_database(name))
    return name


def _migrated(url: str) -> None:
    db = open_store(url)
    try:
        migrate(db)
    finally:
        db.dispose()


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store at the schema's head: once as a SQLite file, once as a PostgreSQL
    database."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "policyjobs.db")
        return f"sqlite:///{tmp_path / 'policyjobs.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t{os.getpid()}_{next(_databases)}",
                                  template=request.getfixturevalue("postgres_template"))


@pytest.fixture(params=STORES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store, never migrated: once as a SQLite file, once as a PostgreSQL
    database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'policyjobs.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"e{os.getpid()}_{next(_databases)}")


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A fresh, empty PostgreSQL database, for tests of PostgreSQL-only behaviour."""
    return postgres.create_database(f"p{os.getpid()}_{next(_databases)}")


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """An S3 protocol server (moto's) for the whole run, in the test process."""
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket_url(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """`s3://…` of a fresh bucket, with this process's AWS_* variables pointing at it."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return f"s3://{s3.create_bucket()}/documents"
