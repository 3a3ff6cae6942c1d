"""The pauses of a wait for an idle queue: close looks at first, sparse ones after."""

from __future__ import annotations

import time
from datetime import timedelta

from policyjobs.engine.queue import SHORT_WAIT, idle_pauses


def test_a_short_wait_is_looked_at_closely_and_a_long_one_sparsely() -> None:
    began = time.monotonic()
    taken: list[tuple[float, float]] = []  # (seconds into the wait, pause)
    for pause in idle_pauses(timedelta(seconds=1.2)):
        taken.append((time.monotonic() - began, pause))
        time.sleep(pause)
    assert [pause for _, pause in taken[:3]] == [0.01, 0.02, 0.025]
    assert all(pause <= 0.025 for at, pause in taken if at < SHORT_WAIT)
    assert taken[-1][1] == 0.1
    assert time.monotonic() - began >= 1.2  # it ends at the timeout, not before
