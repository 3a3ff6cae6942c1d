"""The one factory of locators: ULIDs, which sort in creation order."""

import os
import threading
import time

from ulid_transform import bytes_to_ulid

NIL_UUID = "00000000-0000-0000-0000-000000000000"

_RANDOM_BITS = 80


class _MonotonicULIDs:
    """ULIDs that sort in the order this process made them, even within a millisecond.

    A ULID is a 48-bit millisecond time and 80 random bits; when a millisecond repeats
    (or the clock steps back), the next one is the last plus one, so lists in locator
    order are in creation order. `ulid-transform` encodes in C what `python-ulid` builds
    in Python objects: about a microsecond a locator instead of six, and every job
    enqueued takes one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def __call__(self) -> str:
        fresh = (time.time_ns() // 1_000_000) << _RANDOM_BITS
        fresh |= int.from_bytes(os.urandom(_RANDOM_BITS // 8))
        with self._lock:
            value = self._last = max(fresh, self._last + 1)
        return bytes_to_ulid(value.to_bytes(16))


_ulids = _MonotonicULIDs()


def new_locator() -> str:
    """A new ULID locator, as its 26-character Crockford base32 string."""
    return _ulids()
