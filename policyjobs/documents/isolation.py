"""Rendering in a child process that the worker kills at the job's deadline.

A render can hang or overrun (a huge template, a pathological layout). Run in
the worker's own thread it could not be stopped; run here, it is killed when
its time is up, and it dies with its worker (Linux's parent-death signal), so
no render of a document outlives the attempt that started it. Children are
forked from a forkserver that has already imported the renderer, so each costs
milliseconds, not an import of WeasyPrint.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
import time
from collections.abc import Callable
from functools import cache
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from policyjobs.documents.render import RenderError, html_to_pdf, render_markup
from policyjobs.documents.states import DocumentState

_PR_SET_PDEATHSIG = 1


class RenderTimeout(Exception):
    """The render ran out of time and was killed."""


@cache
def _context() -> BaseContext:
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["policyjobs.documents.render", "weasyprint"])
    return context


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _child(channel: Connection, static_name: str, template: str, document_format: str,
           context: dict[str, Any]) -> None:
    _die_with_parent()
    try:
        markup = render_markup(static_name, template, context, escape=document_format != "text")
        channel.send((DocumentState.DATA_READY, None))
        content = html_to_pdf(static_name, markup) if document_format == "pdf" \
            else markup.encode("utf-8")
        channel.send((DocumentState.READY, content))
    except RenderError as exc:
        channel.send(("error", (exc.failure, exc.message)))
    except BaseException as exc:  # the child's last word is always an answer
        channel.send(("error", (DocumentState.RENDER_ERROR, f"{type(exc).__name__}: {exc}")))


def render_isolated(static_name: str, template: str, document_format: str,
                    context: dict[str, Any], *, timeout: float,
                    on_data_ready: Callable[[], None]) -> bytes:
    """The document's bytes, rendered in a child; `RenderTimeout` after `timeout` seconds."""
    mp = _context()
    receiver, sender = mp.Pipe(duplex=False)
    process = mp.Process(target=_child, daemon=True,  # type: ignore[attr-defined]
                         args=(sender, static_name, template, document_format, context))
    process.start()
    sender.close()
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not receiver.poll(remaining):
                raise RenderTimeout(f"rendering {static_name} ran past the job's deadline")
            kind, value = receiver.recv()
            if kind == DocumentState.DATA_READY:
                on_data_ready()
            elif kind == DocumentState.READY:
                content: bytes = value
                return content
            else:
                failure, message = value
                raise RenderError(DocumentState(failure), message)
    except EOFError:
        process.join(timeout=5)
        raise RenderError(DocumentState.RENDER_ERROR, f"the renderer of {static_name} died "
                                          f"(exit code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(timeout=5)
        receiver.close()
