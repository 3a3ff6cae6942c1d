"""Waiting for something another thread or process does, for the tests and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(ready: Callable[[], bool], *, timeout: float = 15.0, what: str = "the condition",
               check: Callable[[], None] | None = None, interval: float = 0.02) -> None:
    """Poll `ready` every `interval` seconds until it holds, calling `check` (which raises
    when waiting is pointless, a process having died say) between polls; `TimeoutError`
    naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
