"""A real HTTP receiver of webhook deliveries, in the test process, on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed


# What the receiver answers a request with, a status and a body, given how many requests it
# got before this one and this one's path (an answer may take its time).
Answer = Callable[[int, str], tuple[int, bytes]]


class Receiver:
    """Records every request; answers each as `answer` says (204 by default)."""

    def __init__(self) -> None:
        self.got: list[Delivery] = []
        self.answer: Answer = lambda _n, _path: (204, b"")
        self.released = threading.Event()  # set when the receiver stops: ends every wait
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    count = len(receiver.got)
                    receiver.got.append(Delivery(self.path, {k.lower(): v for k, v in
                                                             self.headers.items()}, body))
                status, content = receiver.answer(count, self.path)
                self.send_response(status)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True  # a request kept waiting never holds up the stop
        self._server.block_on_close = False
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def hang(self, path: str) -> None:
        """Keep every request to `path` waiting for an answer until the receiver stops;
        answer the others 204."""
        def answer(_count: int, request_path: str) -> tuple[int, bytes]:
            if request_path == path:
                self.released.wait(60)
            return 204, b""

        self.answer = answer

    def of_type(self, type_: str) -> list[Delivery]:
        """The deliveries of events of `type_`."""
        return [d for d in self.got if d.event["type"] == type_]

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.released.set()
            self._server.shutdown()
            self._server.server_close()
