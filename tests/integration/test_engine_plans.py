"""The engine's hot statements find their rows by key after a burst into a fresh store.

A burst of jobs into a young store outgrows its statistics long before autovacuum analyzes
it. Each statement is explained the way the engine runs it (the store's connections plan
for the tables as they are now, and claims never bitmap-scan), with the statistics of the
empty store: the claim must walk the due index in order, and the completion, the heartbeat
and the rescue must reach `jobs` and `job_queue` through their keys. A sequential scan of
either would make each batch cost as much as the table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from policyjobs.engine.clock import wall_now
from policyjobs.engine.postgres import PostgresBackend
from policyjobs.runtime import Runtime
from tests.support.engine_domain import NOOP, claim_as, new, runtime

pytestmark = pytest.mark.postgres_only
BURST = 20_000


def plan(conn: sa.Connection, sql: str, params: dict[str, Any],
         prepare: Callable[[sa.Connection], None] = lambda _: None) -> list[dict[str, Any]]:
    """Every node of the statement's executed plan (after `prepare`), its work rolled back."""
    with conn.begin() as transaction:
        prepare(conn)
        (found,) = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).one()
        transaction.rollback()
    nodes, pending = [], [found[0]["Plan"]]
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.get("Plans", []))
    return nodes


def scans(nodes: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(node type, index or table) of every scan of a table."""
    return {(n["Node Type"], n.get("Index Name") or n["Relation Name"])
            for n in nodes if "Relation Name" in n}


def burst(rt: Runtime) -> None:
    """BURST jobs in batches of 1,000, each committed, before autovacuum comes round: the
    store's statistics stay those of its empty tables."""
    with rt.db.begin() as conn:
        for table in ("jobs", "job_queue"):
            conn.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    for _ in range(BURST // 1000):
        with rt.db.begin() as conn:
            rt.queue.enqueue(conn, [new(NOOP) for _ in range(1000)])
    with rt.db.connect() as conn:
        counted = conn.execute(sa.text(
            "SELECT max(reltuples) FROM pg_class WHERE relname IN ('jobs', 'job_queue')"
        )).scalar_one()
    assert counted < 1000  # what the planner's statistics believe


def test_a_burst_is_claimed_and_completed_by_key(postgres_url: str) -> None:
    with runtime(postgres_url) as rt:
        burst(rt)
        sql, now = rt.queue.backend.sql, wall_now()
        lease = {"owner": "w", "now": now, "lease_until": now + timedelta(minutes=5)}
        with rt.db.connect() as conn:
            # a statement prepared early would otherwise keep its plan for the empty tables
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
            conn.rollback()
            claim = plan(conn, sql["claim"], lease | {"limit": 1000},
                         PostgresBackend().plan_claims)
        assert ("Index Scan", "job_queue_due") in scans(claim)
        assert not {s for s in scans(claim) if s[0] == "Seq Scan"}

        held = claim_as(rt, "w")
        batch = orjson.dumps([{"id": j.id, "attempt": j.attempt, "result": None}
                              for j in held]).decode()
        with rt.db.connect() as conn:
            for name, params in (("complete", {"owner": "w", "now": now, "batch": batch}),
                                 ("heartbeat", lease),
                                 ("rescue", {"now": now, "at": now.isoformat(),
                                             "wall_now": now + timedelta(hours=2)})):
                found = scans(plan(conn, sql[name], params))
                assert not {s for s in found if s[0] == "Seq Scan"}, (name, found)


def test_a_child_ending_looks_at_its_newest_siblings_first(postgres_url: str) -> None:
    """Whether a waiting parent has a child left is found in a row or two, not by walking
    every child that already ended: children end about in the order they were made."""
    with runtime(postgres_url) as rt:
        parent = new(NOOP)
        children = [new(NOOP, parent_locator=parent.locator) for _ in range(2_000)]
        with rt.db.begin() as conn:
            rt.queue.enqueue(conn, [parent, *children])
            conn.execute(sa.text("UPDATE jobs SET status = 'waiting' WHERE locator = :p"),
                         {"p": parent.locator})
            conn.execute(sa.text("UPDATE jobs SET status = 'finished' WHERE locator IN :done")
                         .bindparams(sa.bindparam("done", expanding=True)),
                         {"done": [c.locator for c in children[:-1]]})
            conn.exec_driver_sql("ANALYZE jobs")
        backend = rt.queue.backend

        def at_scale(conn: sa.Connection) -> None:  # priced as in a store of millions
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")

        with rt.db.connect() as conn:
            nodes = plan(conn, backend.sql["resolve_waiting"], {
                "locators": backend.locators([parent.locator]), "now": wall_now()}, at_scale)
    children_read = [n for n in nodes if n.get("Index Name") == "jobs_parent"]
    assert children_read, scans(nodes)
    assert all(n["Actual Rows"] + n.get("Rows Removed by Filter", 0) <= 2
               for n in children_read), children_read
