"""Calendar schedules on real stores: every occurrence once, in order, caught up after a jump."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from policyjobs.engine.calendar import Daily
from policyjobs.engine.schedules import Schedule, locator_of
from policyjobs.engine.upkeep import Upkeep, fire_due
from tests.support.engine_domain import (
    RECORD,
    TENANT,
    assert_one_at_a_time,
    clock_of,
    effect_spans,
    job_rows,
    runtime,
    settle,
    worker,
)

DAILY = Daily(time(2, 0), "America/New_York")
START = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


def schedule(key: str = "daily") -> Schedule:
    """A schedule that records a job every day at 02:00 in New York."""
    return Schedule(key=key, tenant=TENANT, kind=RECORD, every=DAILY)


def test_a_jump_of_three_months_makes_every_run_once_in_order(database_url: str) -> None:
    with runtime(database_url, test_clock=True) as rt:
        clock_of(rt).set(START)
        with rt.db.begin() as conn:
            locator = rt.queue.schedule(conn, schedule())
        upkeep = Upkeep(rt.queue)
        with worker(rt, concurrency=8):
            clock_of(rt).set(datetime(2027, 4, 1, 12, 0, tzinfo=UTC))
            upkeep.tick()
            upkeep.tick()  # a second tick, or a second leader, makes nothing more
            settle(rt)
        rows = sorted(job_rows(rt.db).values(), key=lambda row: row["id"])
        days = [datetime.fromisoformat(row["payload"]["scheduledFor"]) for row in rows]
        assert len(rows) == 90  # January 2 to April 1, every day once
        assert days == sorted(set(days))
        assert days[0] == datetime(2027, 1, 2, 7, 0, tzinfo=UTC)
        assert datetime(2027, 3, 14, 7, 0, tzinfo=UTC) in days  # 02:00 skipped: 03:00 EDT
        assert days[-1] == datetime(2027, 4, 1, 6, 0, tzinfo=UTC)
        assert {row["status"] for row in rows} == {"finished"}
        assert {(row["reference_type"], row["reference_locator"]) for row in rows} == {
            ("schedule", locator)}
        assert_one_at_a_time(effect_spans(rt.db), [row["locator"] for row in rows])


def test_saving_again_keeps_the_next_run_and_a_new_time_moves_it(database_url: str) -> None:
    with runtime(database_url, test_clock=True) as rt:
        clock_of(rt).set(START)
        with rt.db.begin() as conn:
            first = rt.queue.schedule(conn, schedule())
            again = rt.queue.schedule(conn, schedule())
            moved = rt.queue.schedule(conn, Schedule("daily", TENANT, RECORD,
                                                     Daily(time(14, 30), "Europe/Paris")))
            assert first == again == moved == locator_of(conn, "daily")
            next_at = conn.execute(sa.text("SELECT next_at FROM engine_schedules")).scalar()
        assert str(next_at).startswith("2027-01-01 13:30")
        with rt.db.begin() as conn:
            rt.queue.unschedule(conn, "daily")
            assert locator_of(conn, "daily") is None


def test_concurrent_ticks_make_each_run_once(database_url: str) -> None:
    with runtime(database_url, test_clock=True) as rt:
        clock_of(rt).set(START)
        with rt.db.begin() as conn:
            for n in range(5):
                rt.queue.schedule(conn, schedule(f"daily-{n}"))
        clock_of(rt).set(START + timedelta(days=10))
        threads = [threading.Thread(target=fire_due, args=(rt.queue, rt.clock.now()))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rows = job_rows(rt.db).values()
        assert len(rows) == 5 * 10
        assert len({(row["ordered_key"], row["payload"]["scheduledFor"]) for row in rows}) == 50


def test_a_read_of_the_clock_that_a_move_overtook_does_not_put_it_back(
        database_url: str) -> None:
    """A re-read of the offset, begun before a move and ended after it, is dropped: else
    the clock would go back for a while, and a wait for what the move made due could see
    nothing due and end at once."""
    with runtime(database_url, test_clock=True) as rt:
        clock = clock_of(rt)
        clock.set(START)
        read, moved = threading.Event(), threading.Event()

        def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().startswith("SELECT") and "offset_us" in statement:
                read.set()
                moved.wait(10)

        sa.event.listen(rt.db, "after_cursor_execute", hold)
        rereading = threading.Thread(target=clock.refresh)
        rereading.start()
        assert read.wait(10)
        clock.set(START + timedelta(days=31))
        moved.set()
        rereading.join(10)

        assert clock.now() >= START + timedelta(days=31)
