"""A kind with threads of its own runs on them: its jobs, however long they wait, never hold
the handler threads the other kinds share."""

from __future__ import annotations

import threading
from typing import Any

from policyjobs.domain import Domain
from policyjobs.engine import JobContext, JobKind
from policyjobs.testing.waiting import wait_until
from tests.support.engine_domain import RECORD, enqueue, new, runtime, settle, status, worker

WAITS = "test.waits"
released = threading.Event()
waiting = threading.Semaphore(0)


def wait(context: JobContext) -> Any:
    """Hold a thread until the test releases it."""
    waiting.release()
    released.wait(30)
    return threading.current_thread().name


waiter = Domain(name="waiting", kinds=[JobKind(WAITS, wait, threads=2)])


def test_jobs_of_a_kind_with_its_own_threads_leave_the_others_free(database_url: str) -> None:
    released.clear()
    with runtime(database_url, domains=[waiter]) as rt, worker(rt, concurrency=1):
        waits = enqueue(rt, new(WAITS), new(WAITS))
        assert waiting.acquire(timeout=10)
        assert waiting.acquire(timeout=10)  # both run at once, on their own two threads
        records = enqueue(rt, *[new(RECORD) for _ in range(3)])
        wait_until(lambda: all(status(rt, r) == "finished" for r in records), timeout=10,
                   what="the other kind's jobs, on the one shared thread")
        released.set()
        settle(rt)
        assert {status(rt, w) for w in waits} == {"finished"}
