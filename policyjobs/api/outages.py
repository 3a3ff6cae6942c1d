"""Whether a failure is the store's: away (restarting, failing over, out of connections)
rather than wrong. The API answers such a failure with 503 and `Retry-After`
(`exceptions.Unavailable`), and `replay` runs a request once more when a restart broke its
connection before anything of it was committed.
"""

from __future__ import annotations

import sqlalchemy as sa

from policyjobs.exceptions import StoreUnavailable

# What the store raises when it cannot serve: lost or refused connections, an exhausted
# pool, a lock or statement timeout, a deadlock victim. Each is worth trying again later.
# The reads on asyncpg raise `StoreUnavailable`, having tried a lost connection again.
STORE_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError,
                     StoreUnavailable)


def store_trouble(exc: BaseException) -> BaseException | None:
    """The store's failure behind `exc`: `exc` itself, or what it was raised from or while
    handling (closing a connection the server dropped raises an error of its own)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None or isinstance(seen, STORE_UNAVAILABLE):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def lost_connection(exc: BaseException) -> bool:
    """The store dropped a connection mid-request; SQLAlchemy has replaced its pool."""
    return isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated


def driver_reason(exc: BaseException) -> str:
    """The driver's first line: what went wrong, without the statement and its values."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
