"""`serve --processes`: how long a place waits before a process that keeps crashing starts
again."""

from __future__ import annotations

from policyjobs.serving import restart_pause


def test_a_process_that_keeps_dying_young_is_restarted_after_a_doubling_pause() -> None:
    pauses = [restart_pause(crashes) for crashes in range(9)]

    assert pauses == [0, 0, 1, 2, 4, 8, 16, 30, 30]
