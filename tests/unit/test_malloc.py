"""`limit_arenas`: eight threads allocating at once share two malloc arenas, not one each."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from policyjobs.malloc import _glibc

pytestmark = pytest.mark.skipif(not _glibc(), reason="arenas are glibc's")

# Eight threads each make a thousand allocations at once, then glibc's `malloc_stats`
# prints one "Arena N:" block per arena on stderr.
PROGRAM = """
import ctypes, sys, threading
from policyjobs.malloc import limit_arenas
print(limit_arenas() if sys.argv[1] == "limit" else None)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
together = threading.Barrier(8)
def allocate():
    together.wait()
    for _ in range(1000):
        libc.free(libc.malloc(1000))
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc.malloc_stats()
"""


def arenas(mode: str, **env: str) -> tuple[str, int]:
    """What `limit_arenas` answered in a fresh interpreter, and how many arenas it used."""
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True,
                          text=True, env=environment, check=True, timeout=60)
    return done.stdout.strip(), done.stderr.count("Arena ")


def test_threads_share_two_arenas() -> None:
    assert arenas("limit") == ("True", 2)


def test_without_it_each_thread_takes_its_own() -> None:
    assert arenas("none")[1] > 2


def test_the_operators_setting_wins() -> None:
    assert arenas("limit", MALLOC_ARENA_MAX="3") == ("False", 3)
