"""The throwaway PostgreSQL server tooling starts, serves queries and cleans up."""

from __future__ import annotations

import psycopg

from policyjobs.testing.postgres import start_postgres


def test_start_create_database_query_and_stop() -> None:
    server = start_postgres()
    try:
        url = server.create_database("tooling_check")
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/tooling_check"
        with psycopg.connect(
            host=server.host, port=server.port, user=server.user, dbname="tooling_check"
        ) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        server.stop()
    assert not server.data_dir.exists()
