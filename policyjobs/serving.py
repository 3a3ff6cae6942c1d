"""`policyjobs serve --processes N`: the API in N processes on one port, each process with a
listening socket of its own.

On one listening socket shared by every process (uvicorn's `--workers`), the process that
wakes first accepts a burst of new connections, and keeps each for as long as its client
keeps it alive. Under 32 kept-alive connections (a load balancer's, or wrk's), one of two
processes held 25 of them and answered 78 % of the requests, and the list page's p99 at
1,000 requests/s was 28 to 44 ms against 12 to 20 with the connections spread evenly.

So the parent binds one socket per process to the port (`SO_REUSEPORT`), and the kernel
spreads new connections over them by their addresses. It binds the port once without that
option first, so that it refuses a port where a server listens, another `serve --processes`
included, instead of sharing it. It keeps the sockets while a process is replaced, so no
connection is refused meanwhile; it starts another process in place of one that dies (at
once, unless it keeps dying within seconds of its start: then after a pause that doubles up
to half a minute, so a crash loop does not spin). A first process that cannot start its app
stops them all; a replacement that cannot is tried again so. On SIGTERM or SIGINT it stops
them all, each finishing its requests in `grace` seconds.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

import structlog
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from policyjobs.malloc import limit_arenas

log = structlog.get_logger("policyjobs.serve")

# Builds a process's app and runtime, in that process: a function the spawned processes can
# be handed (a top-level function, or a partial of one, whose arguments pickle).
AppFactory = Callable[[], Any]
_CHECK_SECONDS = 0.5  # how often the parent looks for processes that died
_BACKLOG = 2048  # uvicorn's
_SHORT_LIFE_SECONDS = 10.0  # a process that dies sooner is crashing, not just killed
_MOST_PAUSE_SECONDS = 30.0  # the longest wait before starting a crashing process again


def bound_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets bound to `host:port` (to a free port when `port` is 0), each with
    `SO_REUSEPORT` when there are several; `OSError` (`EADDRINUSE`) when another server
    already listens there, also one whose sockets have `SO_REUSEPORT` too.

    They do not listen yet: a server that binds its port before it opens its store (which
    may wait for PostgreSQL) should not take connections it cannot answer meanwhile.
    `serve_processes`, or uvicorn for one, makes them listen."""
    if count > 1:
        port = _unclaimed(host, port)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = _socket(host)
            sockets.append(sock)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _unclaimed(host: str, port: int) -> int:
    """`port` (or a free one for 0) once a bind without `SO_REUSEPORT` has shown that no
    socket listens there.

    The kernel lets a socket with `SO_REUSEPORT` join any other of the same user that has
    it, so without this a second `serve --processes` on the port would start beside the
    first, and each would get a share of the connections. Two that start within the same
    instant may still both pass between this bind and theirs.
    """
    with _socket(host) as probe:
        probe.bind((host, port))
        found: int = probe.getsockname()[1]
        return found


def _socket(host: str) -> socket.socket:
    """A TCP socket for `host` that may bind over connections still in TIME_WAIT (as
    uvicorn's), but never beside a socket that listens."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def serve_processes(sockets: list[socket.socket], *, grace: int, app: AppFactory) -> int:
    """Serve the app `app` makes from one process per socket of `bound_sockets` until
    SIGTERM or SIGINT, then close the sockets; the exit code: 0, or uvicorn's start-up
    failure when a process could not start its app."""
    for sock in sockets:
        # Listening from the start, so that the kernel counts every socket when it spreads
        # connections, also while a process starts and before it accepts.
        sock.listen(_BACKLOG)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    host, port = sockets[0].getsockname()[:2]
    log.info("serving", host=host, port=port, processes=len(sockets))
    places = [_Place(sock, grace, app) for sock in sockets]
    code = 0
    try:
        while not stopping.wait(_CHECK_SECONDS):
            if not all(place.tend() for place in places):
                code = STARTUP_FAILURE
                break
    finally:
        _stop([place.process for place in places], grace)
        for sock in sockets:
            sock.close()
    return code


class _Place:
    """A listening socket and the process serving it, started again when it dies."""

    def __init__(self, sock: socket.socket, grace: int, app: AppFactory) -> None:
        self._sock, self._grace, self._app = sock, grace, app
        self.process = _start(sock, grace, app)
        self._born = time.monotonic()
        self._replaced = False  # whether the process is a replacement
        self._crashes = 0  # quick deaths in a row
        self._due: float | None = None  # when a dead process's replacement starts

    def tend(self) -> bool:
        """Start a replacement for a dead process once its pause is over; False when the
        first process could not start its app, which no process then can."""
        process = self.process
        if process.is_alive():
            return True
        if process.exitcode == STARTUP_FAILURE and not self._replaced:
            # A replacement that cannot start met a passing trouble (the store away a
            # while), and is tried again like a crash.
            log.error("an API process could not start; stopping", pid=process.pid)
            return False
        now = time.monotonic()
        if self._due is None:
            short = now - self._born < _SHORT_LIFE_SECONDS
            self._crashes = self._crashes + 1 if short else 0
            pause = restart_pause(self._crashes)
            log.warning("an API process died; starting another in its place",
                        pid=process.pid, exitcode=process.exitcode, after_s=pause)
            self._due = now + pause
        if now >= self._due:
            self.process = _start(self._sock, self._grace, self._app)
            self._born, self._due, self._replaced = now, None, True
        return True


def restart_pause(crashes: int) -> float:
    """Seconds to wait before starting again a process that died `crashes` times in a row
    soon after its start: none the first time, then 1, 2, 4… up to half a minute."""
    return 0.0 if crashes <= 1 else min(_MOST_PAUSE_SECONDS, 2.0 ** (crashes - 2))


def _start(sock: socket.socket, grace: int, app: AppFactory) -> BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_one, args=(sock, grace, app), name="policyjobs-api")
    process.start()
    return process


def _serve_one(sock: socket.socket, grace: int, app: AppFactory) -> None:
    """One process: the app `app` makes, served on `sock`."""
    limit_arenas()  # before any thread starts
    config = uvicorn.Config(app, factory=True, log_config=None,
                            timeout_graceful_shutdown=grace)
    uvicorn.Server(config).run(sockets=[sock])


def _stop(processes: list[BaseProcess], grace: int) -> None:
    """SIGTERM each process, wait for them to finish their requests, then kill stragglers."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace + 5
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.warning("an API process outlived its grace; killing it", pid=process.pid)
            process.kill()
            process.join()
