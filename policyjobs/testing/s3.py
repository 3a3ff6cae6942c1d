"""A real S3 protocol server for the tests and benchmarks: moto's, on a loopback port, in the
caller's process (`s3_server`) or in one of its own (`s3_process`), talked to over HTTP by
the product's own client (obstore). moto comes with the development dependencies and
bench/requirements.txt, not with the product."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import obstore
from obstore.store import S3Store

from policyjobs.testing.postgres import free_port
from policyjobs.testing.processes import Spawned
from policyjobs.testing.waiting import wait_until

_buckets = itertools.count()


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint, and the AWS_* variables that point a client at it."""

    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach this server: its endpoint, a region and keys
        (moto takes any), and http allowed."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_ALLOW_HTTP": "true"}

    def create_bucket(self, name: str | None = None) -> str:
        """A new, empty bucket (one the tests have not used yet, when not named)."""
        name = name or f"docs-{os.getpid()}-{next(_buckets)}"
        httpx.put(f"{self.endpoint}/{name}", timeout=10).raise_for_status()
        return name

    def store(self, bucket: str) -> S3Store:
        """A client of the bucket (obstore's, as the product's), with this server's keys."""
        return S3Store(bucket, config={"endpoint": self.endpoint, "region": "us-east-1",
                                       "access_key_id": "testing",
                                       "secret_access_key": "testing"},
                       client_options={"allow_http": True})

    def put_object(self, bucket: str, key: str, content: bytes, content_type: str) -> None:
        """Put an object."""
        obstore.put(self.store(bucket), key, content,
                    attributes={"Content-Type": content_type})

    def object(self, bucket: str, key: str) -> tuple[bytes, dict[str, str]]:
        """An object's bytes and the headers a GET of it answers with (over a presigned
        URL, so over plain HTTP)."""
        link = obstore.sign(self.store(bucket), "GET", key, timedelta(minutes=1))
        answer = httpx.get(link, timeout=10)
        answer.raise_for_status()
        return answer.content, {name.title(): value for name, value in answer.headers.items()}

    def keys(self, bucket: str) -> list[str]:
        """Every key in the bucket."""
        return sorted(meta["path"] for chunk in obstore.list(self.store(bucket))
                      for meta in chunk)


@contextmanager
def s3_server(port: int | None = None) -> Iterator[S3Server]:
    """moto's S3 server on a loopback port (a free one, if not named), stopped on the way
    out. Its buckets live in the process, so a server started again on the same port
    serves the same buckets: that is how a test takes the storage away and back."""
    from moto.server import ThreadedMotoServer  # a development dependency

    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@contextmanager
def s3_process(log: Path, env: Mapping[str, str] = os.environ) -> Iterator[S3Server]:
    """moto's S3 server in a process of its own (logging to `log`) on a free loopback port,
    once it answers; killed on the way out. `env` may switch on moto's own settings, such
    as `INITIAL_NO_AUTH_ACTION_COUNT=0` to check credentials."""
    port = free_port()
    server = Spawned([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                     env, log)
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            httpx.get(endpoint, timeout=1)
        except httpx.TransportError:
            return False
        return True

    try:
        wait_until(answers, timeout=60, check=server.check, what="moto's S3 server to answer",
                   interval=0.1)
        yield S3Server(endpoint)
    finally:
        server.kill()
