"""The one factory of locators: ULIDs, which sort in creation order."""

import os
import threading
import time

from ulid_transform import bytes_to_ulid

NIL_UUID = "00000000-0000-0000-0000-000000000000"

_RANDOM_BITS = 80


class _MonotonicULIDs:
    """ULIDs that sort in the order this process made them, even within a millisecond.

    A ULID is a 48-bit millisecond time and 80 random bits. The random bits are drawn when
    the millisecond changes; within one (or when the clock steps back), the next ULID is
    the last plus one, so lists in locator order are in creation order. `ulid-transform`
    encodes the 128 bits in C, where `python-ulid` builds Python objects: well under a
    microsecond a locator instead of six, and every job enqueued takes one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._millisecond = 0
        self._last = 0

    def __call__(self) -> str:
        millisecond = time.time_ns() // 1_000_000
        with self._lock:
            if millisecond > self._millisecond:
                self._millisecond = millisecond
                self._last = (millisecond << _RANDOM_BITS) | int.from_bytes(
                    os.urandom(_RANDOM_BITS // 8))
            else:
                self._last += 1
            value = self._last
        return bytes_to_ulid(value.to_bytes(16))


_ulids = _MonotonicULIDs()


def new_locator() -> str:
    """A new ULID locator, as its 26-character Crockford base32 string."""
    return _ulids()
