"""Enqueue→handler-start latency, taken where work starts: in the handler itself.

The benchmark puts the wall time at which it calls enqueue into each job's payload; the
handler, as its first act, appends `now - sent` in milliseconds to a file of its process
under $BENCH_STAMPS (one `write` of one line on an O_APPEND descriptor, so threads and
tasks never interleave). The benchmark then counts and reads those files. All processes
run on one machine, so they share the wall clock.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

VARIABLE = "BENCH_STAMPS"
_fds: dict[int, int] = {}
_lock = threading.Lock()


def stamp(sent: float) -> None:
    """Record, in this process's file, how long ago `sent` (a `time.time()`) was."""
    elapsed_ms = (time.time() - sent) * 1000
    pid = os.getpid()
    fd = _fds.get(pid)
    if fd is None:
        with _lock:
            fd = _fds.get(pid)
            if fd is None:
                path = Path(os.environ[VARIABLE]) / f"{pid}.txt"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                _fds[pid] = fd
    os.write(fd, f"{elapsed_ms:.4f}\n".encode())


def count(folder: Path) -> int:
    """How many stamps the handlers have written so far."""
    return sum(_lines(path) for path in folder.glob("*.txt"))


def read(folder: Path) -> list[float]:
    """Every stamp, in milliseconds."""
    found: list[float] = []
    for path in folder.glob("*.txt"):
        found.extend(float(line) for line in path.read_text().split())
    return found


def clear(folder: Path) -> None:
    """Forget the stamps written so far (the files stay open in the handlers)."""
    for path in folder.glob("*.txt"):
        os.truncate(path, 0)


def _lines(path: Path) -> int:
    with path.open("rb") as file:
        return file.read().count(b"\n")
