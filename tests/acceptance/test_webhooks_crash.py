"""Webhook deliveries under SIGKILL on PostgreSQL: worker processes killed while they hold
deliveries in flight lose no event. Every event reaches every subscribed endpoint at least
once, signed with that endpoint's secret, and an event received twice carries the same
`webhook-id` both times."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from policyjobs.app import build_runtime
from policyjobs.engine.schema import jobs
from policyjobs.runtime import Runtime
from policyjobs.settings import Settings
from policyjobs.testing.processes import Spawned
from policyjobs.webhooks import service
from policyjobs.webhooks.addresses import Rules
from policyjobs.webhooks.models import DELIVER, webhook_deliveries
from policyjobs.webhooks.sealing import Sealer
from tests.support.engine_domain import clock_of
from tests.support.receiver import Receiver
from tests.support.worker_process import STARTED, spawn_worker, worker_processes

pytestmark = pytest.mark.slow

KEY = "the key every process of this deployment holds"
EVENTS = 100  # a round
IN_FLIGHT = sa.text("""
    SELECT q.owner FROM job_queue q JOIN jobs j ON j.id = q.id
    WHERE q.status = 'leased' AND q.started_at IS NOT NULL AND j.kind = :kind
""")


@pytest.fixture
def runtime(postgres_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """The runtime of the process whose changes record events; it runs no workers."""
    built = build_runtime(Settings(database_url=postgres_url, home=tmp_path / "home",
                                   secret_key=KEY, test_clock=True))
    try:
        yield built
    finally:
        built.close()


def kill_one_delivering(runtime: Runtime, workers: list[Spawned]) -> Spawned:
    """SIGKILL a worker process while it is making a delivery."""
    alive = {w.pid: w for w in workers if w.process.poll() is None}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with runtime.db.connect() as conn:
            owners = [row[0] for row in conn.execute(IN_FLIGHT, {"kind": DELIVER})]
        victims = [alive[int(o.split(":")[-2])] for o in owners
                   if int(o.split(":")[-2]) in alive]
        if victims:
            victims[0].kill()
            return victims[0]
        time.sleep(0.01)
    raise AssertionError("no worker was ever seen delivering")


def test_workers_killed_mid_delivery_lose_no_event(runtime: Runtime, postgres_url: str,
                                                  tmp_path: Path) -> None:
    tenant = runtime.create_tenant(runtime.tenant_configs.load(""))
    keys = service.Keys(Sealer.of(KEY, tmp_path), Rules(allow_http=True, allow_private=True))
    receiver = Receiver()

    def slowly(_count: int, _path: str) -> tuple[int, bytes]:
        time.sleep(0.05)  # long enough that kills land while deliveries are in flight
        return 204, b""

    receiver.answer = slowly
    overrides = {"POLICYJOBS_HOME": str(tmp_path / "worker-home"), "POLICYJOBS_SECRET_KEY": KEY,
                 "POLICYJOBS_TEST_CLOCK": "1",
                 "POLICYJOBS_WEBHOOKS_ALLOW_HTTP": "1",
                 "POLICYJOBS_WEBHOOKS_ALLOW_PRIVATE": "1"}
    with receiver.running(), worker_processes(postgres_url, tmp_path / "logs", count=2,
                                              overrides=overrides) as workers:
        secrets = {}
        with runtime.db.begin() as conn:
            for path in ("/a", "/b"):
                _, secrets[path] = service.create(
                    conn, keys, tenant=tenant, url=receiver.url + path, event_types=[],
                    description=path, created_by=tenant, now=runtime.clock.now())
        events: list[str] = []
        for round_ in range(3):  # each round's events keep deliveries in flight for its kill
            with runtime.db.begin() as conn:
                events += service.publish(
                    conn, runtime.queue, tenant=tenant, at=runtime.clock.now(),
                    events=[service.Event("invoicing.invoice.generated", {
                        "invoiceLocator": f"I-{round_}-{i}", "accountLocator": "A-1"})
                        for i in range(EVENTS)])
            killed = kill_one_delivering(runtime, workers)
            replacement = spawn_worker(postgres_url, tmp_path / "logs" / f"again-{round_}.log",
                                       overrides)
            replacement.wait_for(STARTED)
            workers[workers.index(killed)] = replacement

        def undelivered() -> list[Any]:
            with runtime.db.connect() as conn:
                return list(conn.execute(
                    sa.select(webhook_deliveries.c.status, jobs.c.status, jobs.c.attempt,
                              jobs.c.run_at, jobs.c.errors)
                    .join_from(webhook_deliveries, jobs,
                               jobs.c.locator == webhook_deliveries.c.job_locator)
                    .where(webhook_deliveries.c.status != "succeeded").limit(5)).all())

        # A delivery that failed for a passing reason (the machine too loaded to answer in
        # time, say) waits for its retry, minutes away: business time moves on for it.
        started = time.monotonic()
        moved = 0
        while undelivered():
            waited = time.monotonic() - started
            assert waited < 120, f"still undelivered, e.g. {undelivered()}"
            if waited > 20 + 10 * moved:  # every 10 s after the first 20: 10 minutes on
                clock_of(runtime).set(runtime.clock.now() + timedelta(minutes=10))
                moved += 1
            time.sleep(0.2)
        with runtime.db.connect() as conn:
            rescued = conn.execute(sa.select(sa.func.count()).select_from(jobs).where(
                jobs.c.kind == DELIVER,
                sa.cast(jobs.c.errors, sa.Text).like("%stopped heartbeating%"))).scalar()
    assert rescued, "no delivery was taken from a killed worker mid-flight"

    got: dict[str, dict[str, set[bytes]]] = defaultdict(lambda: defaultdict(set))
    for delivery in receiver.got:
        Webhook(secrets[delivery.path]).verify(delivery.body, delivery.headers)
        assert delivery.event["id"] == delivery.headers["webhook-id"]
        got[delivery.path][delivery.headers["webhook-id"]].add(delivery.body)
    for path in ("/a", "/b"):
        assert set(got[path]) == set(events), f"{path} missed an event"
        assert all(len(bodies) == 1 for bodies in got[path].values())  # a twice is the same
    assert len(receiver.got) >= 2 * len(events)
