"""One POST of a delivery, and what came of it: the status, how long it took and the first
KiB of the answer, or why there was none.

A 2xx within 15 s is success. Anything else fails: another status, an answer after 15 s, a
redirect (never followed: it could lead anywhere), a connection refused, reset or closed
early, an answer that is not HTTP, a host that now resolves to a refused address. The
answer's body is read up to its first KiB and no further.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

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
        self._client = httpx.Client(
            follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(TIMEOUT, connect=CONNECT_TIMEOUT),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            headers={"user-agent": USER_AGENT})

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
            with self._client.stream("POST", url, content=body, headers={
                    **headers, "content-type": "application/json"}) as response:
                for chunk in response.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT or time.monotonic() - started > TIMEOUT:
                        break
                status = response.status_code
                location = response.headers.get("location", "")
        except httpx.TimeoutException:
            return Answer(None, took(), _text(excerpt), f"{NO_ANSWER} {TIMEOUT:g} s")
        except httpx.HTTPError as exc:
            return Answer(None, took(), _text(excerpt),
                          f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
        latency = took()
        return Answer(status, latency, _text(excerpt), _problem(status, latency, location))

    def close(self) -> None:
        """Close the pool's connections."""
        self._client.close()


def _problem(status: int, latency_ms: int, location: str) -> str | None:
    if 300 <= status < 400:
        return f"redirected ({status}) to {location[:200]!r}; redirects are not followed"
    if not 200 <= status < 300:
        return f"answered {status}"
    if latency_ms > TIMEOUT * 1000:
        return f"answered {status} after {latency_ms} ms, past the {TIMEOUT:g} s limit"
    return None


def _text(excerpt: bytes | bytearray) -> str:
    return excerpt[:EXCERPT].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
