"""The test clock moves business time; `/admin/idle` waits for the work to drain."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from policyjobs.api.application import create_app
from policyjobs.app import build_runtime
from policyjobs.engine.calendar import Daily
from policyjobs.engine.schedules import Schedule
from policyjobs.engine.schema import jobs
from policyjobs.runtime import Runtime
from policyjobs.settings import Settings
from tests.support.api_domain import KIND
from tests.support.http import MakeToken, assert_problem, bearer, ping


def job_status(client: TestClient, tenant: str, token: str, locator: str, job: str) -> str:
    """The public status of a ping job."""
    url = f"/test/{tenant}/pings/{locator}/jobs/{job}"
    return str(client.get(url, headers=bearer(token)).json()["status"])


def test_a_scheduled_job_runs_only_once_the_clock_reaches_it(
        client: TestClient, tenant: str, make_token: MakeToken) -> None:
    token = make_token(tenant, "admin")
    start = datetime(2027, 1, 1, tzinfo=UTC)
    moved = client.put("/admin/clock", headers=bearer(token), json={"now": "2027-01-01T00:00:00Z"})
    assert moved.json()["now"].startswith("2027-01-01T00:00:0")
    job = ping(client, tenant, token, "P-1", runAt=(start + timedelta(days=30)).isoformat())
    idle = client.get("/admin/idle", params={"timeout": 10}, headers=bearer(token))
    assert idle.json() == {"idle": True}  # jobs scheduled for later do not count
    assert job_status(client, tenant, token, "P-1", job) == "running"
    client.put("/admin/clock", headers=bearer(token), json={"now": "2027-01-30T23:59:00Z"})
    assert client.get("/admin/idle", params={"timeout": 10}, headers=bearer(token)).json()["idle"]
    assert job_status(client, tenant, token, "P-1", job) == "running"
    client.put("/admin/clock", headers=bearer(token), json={"now": "2027-01-31T00:00:01Z"})
    assert client.get("/admin/idle", params={"timeout": 10}, headers=bearer(token)).json()["idle"]
    assert job_status(client, tenant, token, "P-1", job) == "finished"


def test_a_move_makes_the_runs_it_brought_before_it_answers(
        runtime: Runtime, tenant: str, make_token: MakeToken) -> None:
    """Where the move is made, not at the scheduler's next look: with no worker and no
    scheduler running (`serve --no-worker`), the runs are queued when the move answers,
    each occurrence once however often the clock is set."""
    admin = bearer(make_token(tenant, "admin"))
    with TestClient(create_app(runtime, run_workers=False)) as client:
        client.put("/admin/clock", headers=admin, json={"now": "2027-01-01T12:00:00Z"})
        with runtime.db.begin() as conn:
            nightly = runtime.queue.schedule(conn, Schedule(
                "nightly", tenant, KIND, Daily.parse("02:00", "America/New_York")))
        for _ in range(2):
            moved = client.put("/admin/clock", headers=admin, json={"now": "2027-01-04T12:00:00Z"})
            assert moved.status_code == 200
            with runtime.db.connect() as conn:
                made = conn.execute(sa.select(jobs.c.payload).where(
                    jobs.c.reference_locator == nightly)).scalars().all()
            assert sorted(p["scheduledFor"] for p in made) == [
                f"2027-01-0{day}T07:00:00+00:00" for day in (2, 3, 4)]


def test_the_clock_needs_admin_and_an_offset(client: TestClient, tenant: str,
                                             make_token: MakeToken) -> None:
    reader = make_token(tenant, "jobs.read")
    assert_problem(client.get("/admin/clock", headers=bearer(reader)), 403)
    admin = make_token(tenant, "admin")
    body = assert_problem(client.put("/admin/clock", headers=bearer(admin),
                                     json={"now": "2027-01-01T00:00:00"}), 400)
    assert body["errors"][0]["field"] == "now"
    assert_problem(client.put("/admin/clock", headers=bearer(admin),
                              json={"now": "2027-01-01T00:00:00Z", "extra": 1}), 400)
    assert_problem(client.get("/admin/idle", params={"timeout": -1}, headers=bearer(admin)), 400)


def test_the_clock_moves_at_most_ten_years_at_a_time(client: TestClient, tenant: str,
                                                    make_token: MakeToken,
                                                    runtime: Runtime) -> None:
    admin = bearer(make_token(tenant, "admin"))
    now = datetime.fromisoformat(client.get("/admin/clock", headers=admin).json()["now"])
    for far in ("2900-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                (max(now, datetime.now(UTC)) + timedelta(days=3660)).isoformat()):
        body = assert_problem(client.put("/admin/clock", headers=admin, json={"now": far}), 400)
        assert body["errors"][0]["field"] == "now"
        assert "ten years" in body["errors"][0]["message"]
    assert abs(runtime.clock.now() - now) < timedelta(minutes=1)  # it did not move
    assert runtime.queue.wait_idle(timedelta(seconds=10))  # and no schedule caught up

    nine_years = (now + timedelta(days=9 * 365)).isoformat()
    assert client.put("/admin/clock", headers=admin, json={"now": nine_years}).status_code == 200
    back = client.put("/admin/clock", headers=admin, json={"now": "0001-01-02T00:00:00Z"})
    assert back.status_code == 200  # back as far as it goes, and forward again to today
    today = client.put("/admin/clock", headers=admin, json={"now": now.isoformat()})
    assert today.status_code == 200


@pytest.fixture
def plain_client(database_url: str) -> Iterator[tuple[TestClient, Runtime]]:
    """An app started without the test clock."""
    runtime = build_runtime(Settings(database_url=database_url))
    try:
        with TestClient(create_app(runtime)) as client:
            yield client, runtime
    finally:
        runtime.close()


def test_without_the_test_clock_there_is_no_clock_endpoint(
        plain_client: tuple[TestClient, Runtime]) -> None:
    client, runtime = plain_client
    from policyjobs.security.tokens import create_token

    with runtime.db.begin() as conn:
        token, _ = create_token(conn, tenants=["any"], permissions=["admin"], known=(),
                                now=runtime.clock.now())
    assert_problem(client.get("/admin/clock", headers=bearer(token)), 404)
    assert client.get("/admin/idle", params={"timeout": 1}, headers=bearer(token)).json() == {
        "idle": True}


def test_long_idle_waits_hold_no_thread_another_request_needs(
        runtime: Runtime, tenant: str, make_token: MakeToken) -> None:
    token = make_token(tenant, "admin")
    with TestClient(create_app(runtime, run_workers=False)) as client:  # nothing will run
        ping(client, tenant, token, "P-1")  # so the queue stays busy
        answers: list[object] = []

        def wait() -> None:
            answers.append(client.get("/admin/idle", params={"timeout": 8},
                                      headers=bearer(token)).json())

        waiters = [threading.Thread(target=wait) for _ in range(50)]  # the pool has 40 threads
        for waiter in waiters:
            waiter.start()
        health = client.get("/health")  # a route run on the pool's threads
        assert health.status_code == 200
        assert not answers  # answered while all fifty still waited
        for waiter in waiters:
            waiter.join()
        assert answers == [{"idle": False}] * 50
