"""How a long-lived process of threads asks glibc's malloc to keep its memory together.

glibc gives each thread that allocates while others do an arena of its own, up to eight
per core, and memory freed in an arena stays with it, fragmented. A worker's handler
threads each take one, and over a billing year its resident size grew about 11 % where it
grows 5 to 9 % with two arenas (`bench/README.md`). `limit_arenas` sets that limit, as the
`MALLOC_ARENA_MAX` variable would, unless the variable is set (the operator's choice wins)
or the C library is not glibc. It must run before the process starts its threads: glibc
fixes the limit when the first thread's arena is made.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Limit malloc to `arenas` arenas; whether it was set here."""
    if "MALLOC_ARENA_MAX" in os.environ or not _glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):  # not glibc, or not a POSIX system
        return False
