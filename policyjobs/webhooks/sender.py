"""One POST of a delivery, and what came of it: the status, how long it took and the first
KiB of the answer, or why there was none.

A 2xx within 15 s is success. Anything else fails: another status, an answer after 15 s, a
redirect (never followed: it could lead anywhere), a connection refused, reset or closed
early, an answer that is not HTTP, a host that now resolves to a refused address. The
answer's body is read up to its first KiB and no further.

The POST goes through urllib3: per request it costs a worker about half the CPU of httpx
(230 against 400 µs to a local receiver), and its pools hand a thread a connection
without the one pool-wide lock httpcore's threads queued on; on a burst of deliveries the
POST was the largest part of a worker's time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import urllib3

from policyjobs.webhooks import addresses

TIMEOUT = 15.0  # seconds: a 2xx within this is success
CONNECT_TIMEOUT = 5.0
EXCERPT = 1024  # bytes of the answer's body kept
USER_AGENT = "policyjobs-webhooks/1"
NO_ANSWER = "no answer within"


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got."""

    status_code: int | None  # None: no answer
    latency_ms: int
    response: str  # the first KiB of the body, as text
    error: str | None  # why the attempt failed; None if it succeeded

    @property
    def succeeded(self) -> bool:
        """Whether the endpoint took the delivery."""
        return self.error is None

    @property
    def timed_out(self) -> bool:
        """Whether the endpoint let the attempt run out of time."""
        return self.error is not None and self.error.startswith(NO_ANSWER)

    @property
    def gone(self) -> bool:
        """Whether the endpoint said it wants no more deliveries (410 Gone)."""
        return self.status_code == 410


class Sender:
    """Posts deliveries over one connection pool, shared by a process's worker threads."""

    def __init__(self, rules: addresses.Rules,
                 resolver: addresses.Resolver = addresses.resolve) -> None:
        self.rules = rules
        self.resolver = resolver
        self._pools = urllib3.PoolManager(
            num_pools=200, maxsize=32, retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=TIMEOUT))

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST `body` to `url`, and say what came of it."""
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            addresses.check(url, self.rules, self.resolver)
        except addresses.Refused as exc:
            return Answer(None, took(), "", f"refused: {exc}")
        excerpt = bytearray()
        try:
            response = self._pools.request(
                "POST", url, body=body, headers={**headers, "user-agent": USER_AGENT,
                                                 "content-type": "application/json"},
                preload_content=False, redirect=False, decode_content=False)
            try:
                while len(excerpt) < EXCERPT and time.monotonic() - started <= TIMEOUT:
                    chunk = response.read1(EXCERPT - len(excerpt))
                    if not chunk:
                        break
                    excerpt += chunk
                status = response.status
                location = response.headers.get("location", "")
            finally:
                # A body read to its end gave its connection back to the pool already; the
                # connection of one with more to it is closed, its rest never read.
                response.close()
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            return Answer(None, took(), _text(excerpt), f"{NO_ANSWER} {TIMEOUT:g} s")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Answer(None, took(), _text(excerpt), _broken(exc))
        latency = took()
        return Answer(status, latency, _text(excerpt), _problem(status, latency, location))

    def close(self) -> None:
        """Close the pools' connections."""
        self._pools.clear()


def _problem(status: int, latency_ms: int, location: str) -> str | None:
    if 300 <= status < 400:
        return f"redirected ({status}) to {location[:200]!r}; redirects are not followed"
    if not 200 <= status < 300:
        return f"answered {status}"
    if latency_ms > TIMEOUT * 1000:
        return f"answered {status} after {latency_ms} ms, past the {TIMEOUT:g} s limit"
    return None


def _broken(exc: BaseException) -> str:
    """Why an attempt got no answer, named by the error at the root: urllib3 wraps the
    socket's and http.client's (a reset, an answer that is not HTTP) in its own."""
    if isinstance(exc, urllib3.exceptions.ProtocolError) and len(exc.args) > 1 \
            and isinstance(exc.args[1], BaseException):
        exc = exc.args[1]
    return f"{type(exc).__name__}: {exc}"[:500]


def _text(excerpt: bytes | bytearray) -> str:
    return excerpt[:EXCERPT].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
