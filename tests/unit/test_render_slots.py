"""The renderers' slots: a render waiting for one goes in by its job's lane, then in turn."""

from __future__ import annotations

import threading

from policyjobs.documents.renderers import Slots
from policyjobs.engine import Lane
from policyjobs.testing.waiting import wait_until


def test_a_freed_slot_goes_to_the_lowest_lane_waiting_then_to_the_first_come() -> None:
    slots = Slots(1)
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def hold() -> None:
        with slots.held(Lane.BATCH):
            holding.set()
            release.wait()

    def wait_for_one(lane: Lane, name: str) -> None:
        with slots.held(lane):
            order.append(name)

    threads = [threading.Thread(target=hold)]
    threads[0].start()
    holding.wait()
    arrivals = [(Lane.BATCH, "batch 1"), (Lane.INTERACTIVE, "quote 1"), (Lane.BATCH, "batch 2"),
                (Lane.STANDARD, "standard"), (Lane.INTERACTIVE, "quote 2")]
    for count, (lane, name) in enumerate(arrivals, 1):
        threads.append(threading.Thread(target=wait_for_one, args=(lane, name)))
        threads[-1].start()
        wait_until(lambda: slots.waiting == count, timeout=5,  # noqa: B023 - used at once
                   what=f"{name} to wait")
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["quote 1", "quote 2", "standard", "batch 1", "batch 2"]


def test_slots_are_shared_up_to_their_size() -> None:
    slots = Slots(2)
    inside, peak, lock = 0, 0, threading.Lock()
    barrier = threading.Barrier(6)

    def render() -> None:
        nonlocal inside, peak
        barrier.wait()
        with slots.held(Lane.STANDARD):
            with lock:
                inside += 1
                peak = max(peak, inside)
            threading.Event().wait(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=render) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert (peak, slots.waiting) == (2, 0)
