"""Rendering in renderer processes, which a worker kills when a render overruns its deadline.

A render can hang or overrun (a huge template, a pathological layout). In the worker's
own thread it could not be stopped; in a renderer process it is killed when its time is
up, and the renderer is replaced. Renderers are started when first needed and kept warm,
with WeasyPrint and its fonts loaded, so a render costs what it costs in-process. Each
renders one document at a time, dies with its worker (Linux's parent-death signal) and
is replaced after `RECYCLE_AFTER` renders, so no render outlives the attempt that asked
for it and no leak lasts.

`python -m policyjobs.documents.renderers FD PARENT` is a renderer: it answers requests on
the socket FD until the socket closes or PARENT dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

from policyjobs.documents.render import RenderError, html_to_pdf, render_markup
from policyjobs.documents.states import DocumentState
from policyjobs.exceptions import PolicyjobsError

RECYCLE_AFTER = 500  # renders before a renderer is replaced by a fresh one
STARTUP_SECONDS = 60.0  # how long a new renderer may take to load WeasyPrint
# What a renderer renders before its first request: the faces, a table and page margins a
# business document uses, so that the first one costs what the next ones do.
WARM_UP = ("<style>@page { @bottom-center { content: counter(page) } }</style>"
           "<h1>policyjobs</h1><p><strong>bold</strong> <em>italic</em></p>"
           "<table><tr><th>charge</th><td>1.00</td></tr></table>")
_PR_SET_PDEATHSIG = 1
_HELLO = "hello"


class RenderTimeout(PolicyjobsError):
    """The render ran out of time; its renderer was killed."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A document's bytes, and the seconds its renderer spent on them."""

    content: bytes
    seconds: float


class Renderer:
    """One renderer process and the socket to it, started by the thread `spawner` runs on.

    Linux sends the parent-death signal when the *thread* that started a process ends, not
    its process: a renderer started on a handler thread would be killed, mid-render for
    whoever took it next, if that thread ended first. So a pool's renderers are started on
    one thread of its own that lives as long as the pool."""

    def __init__(self, spawner: Executor) -> None:
        self.channel, theirs = Pipe()
        fd = theirs.fileno()
        try:
            self.process = spawner.submit(
                subprocess.Popen,
                [sys.executable, "-m", __name__, str(fd), str(os.getpid())],
                pass_fds=(fd,), stdin=subprocess.DEVNULL, close_fds=True,
            ).result()
        except (OSError, RuntimeError) as exc:  # no process to be had; the pool shut down
            self.channel.close()
            raise RenderError(DocumentState.RENDER_ERROR,
                              f"a renderer could not start: {exc}") from None
        finally:
            theirs.close()
        self.renders = 0
        try:
            if not self.channel.poll(STARTUP_SECONDS) or self.channel.recv() != _HELLO:
                raise EOFError
        except (EOFError, OSError):
            self.kill()
            raise RenderError(DocumentState.RENDER_ERROR,
                              f"a renderer could not start (exit code {self.process.poll()})"
                              ) from None

    def render(self, request: tuple[str, str, str, dict[str, Any]], *, timeout: float,
               on_data_ready: Callable[[], None]) -> bytes:
        """The document's bytes; `RenderTimeout` after `timeout` seconds, `RenderError` if the
        template or conversion fails or the renderer dies."""
        self.renders += 1
        deadline = time.monotonic() + timeout
        try:
            self.channel.send(request)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.channel.poll(remaining):
                    self.kill()
                    raise RenderTimeout(f"rendering {request[0]} ran past the job's deadline")
                kind, value = self.channel.recv()
                if kind == DocumentState.DATA_READY:
                    on_data_ready()
                elif kind == DocumentState.READY:
                    content: bytes = value
                    return content
                else:
                    state, message = value
                    raise RenderError(DocumentState(state), message)
        except (EOFError, OSError):
            self.kill()
            raise RenderError(DocumentState.RENDER_ERROR,
                              f"the renderer of {request[0]} died "
                              f"(exit code {self.process.poll()})") from None

    @property
    def usable(self) -> bool:
        """Whether it can take another render."""
        return self.process.poll() is None and self.renders < RECYCLE_AFTER

    def kill(self) -> None:
        """Stop the process now."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(timeout=10)
        self.channel.close()

    def close(self) -> None:
        """Let the process finish: it exits when its socket closes."""
        self.channel.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()


class Slots:
    """At most `size` holders at once; those waiting go in by priority (lower first), then in
    the order they came."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._changed = threading.Condition()
        self._waiting: list[tuple[int, int]] = []  # a heap of (priority, arrival)
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        """How many wait for a slot."""
        with self._changed:
            return len(self._waiting)

    @contextlib.contextmanager
    def held(self, priority: int) -> Iterator[None]:
        """Hold a slot for the block, once one is free and no one before this caller waits."""
        ticket = (priority, next(self._arrivals))
        with self._changed:
            heapq.heappush(self._waiting, ticket)
            while not (self._free and self._waiting[0] == ticket):
                self._changed.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            self._changed.notify_all()  # the next in line may take another free slot
        try:
            yield
        finally:
            with self._changed:
                self._free += 1
                self._changed.notify_all()


class Renderers:
    """At most `size` renderers, started on demand and reused; renders wait for a free one,
    those of a lower priority (a job's lane: interactive first) ahead of the others."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = Slots(size)
        self._idle: list[Renderer] = []
        self._lock = threading.Lock()
        self._closed = False
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="policyjobs-renderers")

    def render(self, static_name: str, template: str, document_format: str,
               context: dict[str, Any], *, timeout: float, priority: int = 1,
               on_start: Callable[[], None] = lambda: None,
               on_data_ready: Callable[[], None] = lambda: None) -> Rendered:
        """Render one document when a renderer is free for `priority`; `timeout` counts from
        when it starts (`on_start` is called then), not while it waits for a renderer."""
        with self._slots.held(priority):
            renderer = self._take()
            try:
                on_start()
                started = time.monotonic()
                content = renderer.render((static_name, template, document_format, context),
                                          timeout=timeout, on_data_ready=on_data_ready)
                return Rendered(content, time.monotonic() - started)
            finally:
                self._give_back(renderer)

    def _take(self) -> Renderer:
        with self._lock:
            if self._closed:
                raise RenderError(DocumentState.RENDER_ERROR, "the renderers are shut down")
            if self._idle:
                return self._idle.pop()
        return Renderer(self._spawner)

    def _give_back(self, renderer: Renderer) -> None:
        with self._lock:
            if renderer.usable and not self._closed:
                self._idle.append(renderer)
                return
        if renderer.process.poll() is None:
            renderer.close()

    def close(self) -> None:
        """Stop every idle renderer; busy ones stop when their render ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for renderer in idle:
            renderer.close()
        self._spawner.shutdown(wait=False)


# -- the renderer process -------------------------------------------------------------------------


def _die_with(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies, and exit if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        sys.exit(0)


def _answer(channel: Connection, static_name: str, template: str, document_format: str,
            context: dict[str, Any]) -> None:
    try:
        markup = render_markup(static_name, template, context,
                               escape=document_format != "text")
        channel.send((DocumentState.DATA_READY, None))
        content = html_to_pdf(static_name, markup) if document_format == "pdf" \
            else markup.encode("utf-8")
        channel.send((DocumentState.READY, content))
    except RenderError as exc:
        channel.send(("error", (exc.failure, exc.message)))
    except Exception as exc:  # the renderer's answer is always an answer
        channel.send(("error", (DocumentState.RENDER_ERROR, f"{type(exc).__name__}: {exc}")))


def serve(fd: int, parent: int) -> None:
    """Answer render requests on socket `fd` until it closes."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the worker, which stops us
    import weasyprint  # noqa: F401 - loaded once, before the first request

    html_to_pdf("warm-up", WARM_UP)  # fonts and caches, before the first request
    channel = Connection(fd)
    channel.send(_HELLO)
    while True:
        try:
            request = channel.recv()
        except (EOFError, OSError):
            return
        _answer(channel, *request)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
