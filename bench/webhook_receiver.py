"""The receiver `bench/run webhooks` delivers to: a bare ASGI app under uvicorn that writes,
for each delivery, its path, its event's id and how long after the event it arrived."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

import orjson

_OUT = open(os.environ["RECEIVER_LOG"], "a", buffering=1)  # noqa: SIM115 - the process's


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Take a delivery: 204, and one line of the log."""
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    now = time.time()
    event = orjson.loads(body)
    happened = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
    _OUT.write(f"{scope['path']} {event['id']} {(now - happened) * 1000:.2f}\n")
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
