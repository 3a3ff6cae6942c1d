"""A real HTTP receiver of webhook deliveries, in the test process, on a loopback port."""

from __future__ import annotations

import contextlib
import socket
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
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: as any server would,
                    self.close_connection = True  # take it for no request at all
                    return
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


class RawReceiver:
    """A loopback TCP server that reads a request and answers it wrongly, as `mode` says:
    `garbage` (bytes that are not HTTP), `close` (hangs up without a word) or `redirect`
    (a 302 to somewhere else)."""

    ANSWERS = {"garbage": b"this is not HTTP\r\n\r\n", "close": b"",
               "redirect": b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n"
                           b"Content-Length: 0\r\n\r\n"}

    def __init__(self, mode: str) -> None:
        self.answer = self.ANSWERS[mode]
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/in"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    _read_request(conn)  # whole: a close with bytes unread sends a reset
                    self.requests += 1
                    if self.answer:
                        conn.sendall(self.answer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


def _read_request(conn: socket.socket) -> None:
    """Read one HTTP request, its head and then the body its Content-Length names."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk
