"""The engine's hot statements find their rows by key after a burst into a fresh store.

A burst of jobs into a young store outgrows its statistics long before autovacuum analyzes
it. Each statement is explained the way the engine runs it (the store's connections use
no plan made more than a second ago, and claims never bitmap-scan), with the statistics
of the empty store: the claim must walk the fair index in order, and the completion, the
heartbeat, the rescue and the lookup of the jobs holding dedupe keys must reach `jobs`
and `job_queue` through their keys. A sequential scan of either would make each batch cost
as much as the table.
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
from policyjobs.store import database
from policyjobs.store.database import open_store
from tests.support.engine_domain import NOOP, TENANT, claim_as, new, runtime

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
        picks = orjson.dumps([{"tenant": TENANT, "lane": 1, "count": 1000}]).decode()
        with rt.db.connect() as conn:
            due = plan(conn, sql["due"], {"now": now}, PostgresBackend().plan_claims)
            claim = plan(conn, sql["lease"], lease | {"picks": picks},
                         PostgresBackend().plan_claims)
            alone = plan(conn, sql["lease_alone"],
                         lease | {"tenant": TENANT, "lane": 1, "count": 1000},
                         PostgresBackend().plan_claims)
        for nodes in (claim, alone):
            assert ("Index Scan", "job_queue_fair") in scans(nodes)
        for nodes in (due, claim, alone):  # (the tenants' caps are a row per capped tenant)
            assert not {s for s in scans(nodes) if s[0] in ("Seq Scan", "Bitmap Heap Scan")
                        and s[1] != "engine_tenants"}

        held = claim_as(rt, "w")
        keys = orjson.dumps([{"tenant": TENANT, "kind": NOOP, "key": f"k{n}"}
                             for n in range(1000)]).decode()
        batch = orjson.dumps([{"id": j.id, "attempt": j.attempt, "result": None}
                              for j in held]).decode()
        with rt.db.connect() as conn:
            for name, params in (("complete", {"owner": "w", "now": now, "batch": batch,
                                               "report": False}),
                                 ("heartbeat", lease),
                                 ("rescue", {"now": now, "at": now.isoformat(),
                                             "wall_now": now + timedelta(hours=2)}),
                                 ("find_deduplicated", {"keys": keys})):
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
            rt.queue.backend.mark(conn, [parent.locator])
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


def test_the_idle_check_reads_a_waiting_parents_children_by_their_index(
        postgres_url: str) -> None:
    """The idle check counts a waiting parent whose children have all ended as work still
    to do (a worker ends it just after its turn commits): it finds such parents from their
    own index and reads their children through the parents' index, never walking `jobs`."""
    with runtime(postgres_url) as rt:
        parent = new(NOOP)
        children = [new(NOOP, parent_locator=parent.locator) for _ in range(500)]
        children.append(new(NOOP, parent_locator=parent.locator,
                            run_at=wall_now() + timedelta(hours=1)))
        since = [new(NOOP) for _ in range(3_000)]  # made since, without a parent
        with rt.db.begin() as conn:
            rt.queue.enqueue(conn, [parent, *children, *since])
            conn.execute(sa.text("UPDATE jobs SET status = 'waiting' WHERE locator = :p"),
                         {"p": parent.locator})
            conn.execute(sa.text("UPDATE jobs SET status = 'finished' WHERE locator IN :done")
                         .bindparams(sa.bindparam("done", expanding=True)),
                         {"done": [c.locator for c in children[:-1] + since]})
            conn.exec_driver_sql("DELETE FROM job_queue WHERE id IN "
                                 "(SELECT id FROM jobs WHERE status <> 'queued')")
            rt.queue.backend.mark(conn, [parent.locator])
            conn.exec_driver_sql("ANALYZE jobs")

        def at_scale(conn: sa.Connection) -> None:  # priced as in a store of millions
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")

        backend = rt.queue.backend
        with rt.db.connect() as conn:
            assert not backend.busy(conn, wall_now())  # the last child is not yet due
        with rt.db.connect() as conn:
            nodes = plan(conn, backend.sql["busy"], {"now": wall_now()}, at_scale)
    assert {n.get("Index Name") for n in nodes} >= {"jobs_parent", "job_marks_waiting"}, (
        scans(nodes))
    assert not {s for s in scans(nodes)
                if s[0] == "Seq Scan" or s[1] in ("jobs_pkey", "job_marks_status")}


def test_a_plan_made_for_a_young_table_is_made_again_once_it_is_old(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL keeps a prepared statement's generic plan until the next ANALYZE. The
    store's connections drop their plans once they have served a while, so one made for a
    table of ten rows does not go on scanning it whole once it holds a hundred thousand."""
    db = open_store(postgres_url)

    def lookup(conn: sa.Connection) -> str:
        (found,) = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) EXECUTE lookup('k1')").one()
        return str(found[0]["Plan"]["Node Type"])

    try:
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE young (k text PRIMARY KEY, v int) "
                                 "WITH (autovacuum_enabled = false)")
            conn.exec_driver_sql("INSERT INTO young SELECT 'k' || i, i "
                                 "FROM generate_series(1, 10) AS i")
            conn.exec_driver_sql("ANALYZE young")
        monkeypatch.setattr(database, "PLANS_KEPT_SECONDS", 3600.0)
        with db.connect() as conn:
            conn.exec_driver_sql("PREPARE lookup(text) AS SELECT v FROM young WHERE k = $1")
            for _ in range(6):  # the fifth run on, PostgreSQL weighs its generic plan
                conn.exec_driver_sql("EXECUTE lookup('k1')").all()
            conn.commit()
            with db.begin() as other:
                other.exec_driver_sql("INSERT INTO young SELECT 'n' || i, i "
                                      "FROM generate_series(1, 100000) AS i")
            assert lookup(conn) == "Seq Scan"  # the plan kept from ten rows
            conn.commit()
            monkeypatch.setattr(database, "PLANS_KEPT_SECONDS", 0.0)
            assert lookup(conn) == "Index Scan"  # the next transaction planned it again
            conn.commit()
    finally:
        with db.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS young")
        db.dispose()
