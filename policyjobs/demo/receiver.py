"""The demo's own webhook receiver: a loopback HTTP server that checks each delivery's
signature, as an integrator would, and counts the events it got by type."""

from __future__ import annotations

import hmac
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from policyjobs.webhooks.signing import signature

MAX_BODY = 1 << 20


class Receiver:
    """Takes deliveries on 127.0.0.1 (a free port) until closed."""

    def __init__(self) -> None:
        self.secret = ""  # the endpoint's, once it is made
        self.types: Counter[str] = Counter()
        self.forged = 0  # deliveries whose signature did not check out
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("content-length", 0)), MAX_BODY)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender went away mid-request: no delivery
                    self.close_connection = True
                    return
                receiver.take(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/policyjobs-events"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="policyjobs-demo-receiver", daemon=True)
        self._thread.start()

    def take(self, body: bytes, headers: dict[str, str]) -> None:
        """Count one delivery, checking its signature against the endpoint's secret."""
        expected = signature(self.secret, headers.get("webhook-id", ""),
                             int(headers.get("webhook-timestamp", "0") or 0), body)
        signed = any(hmac.compare_digest(expected, given)
                     for given in headers.get("webhook-signature", "").split())
        with self._lock:
            if signed:
                self.types[str(orjson.loads(body).get("type"))] += 1
            else:
                self.forged += 1

    def close(self) -> None:
        """Stop taking deliveries."""
        self._server.shutdown()
        self._server.server_close()
