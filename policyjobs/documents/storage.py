"""Where rendered files live: a local directory (the default, under the service's home), or
an S3-compatible bucket (`policyjobs.documents.buckets`), behind one small interface.

Either way a file appears whole or not at all: the local one writes it aside and renames it
into place, a bucket takes it in one PUT. Keys are the service's own (`tenant/document.ext`),
never anything a client chose.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from policyjobs.exceptions import Unavailable
from policyjobs.settings import is_bucket

_KEY = re.compile(r"^[0-9A-Za-z_-][0-9A-Za-z_.-]*(/[0-9A-Za-z_.-]+)*$")  # not under `.…`
_INCOMING = ".incoming"  # files being written, beside the tree so that a rename moves them
STALE_SECONDS = 3600.0  # a file being written for this long was left by a killed writer
CHUNK = 256 * 1024  # bytes a download sends at a time (a bucket's stream: at least)


class FilesUnavailable(Unavailable):
    """The document storage cannot take or give a file now (unreachable, or answering with
    errors): a render tries again later, a download answers 503."""


class StorageUnusable(Exception):
    """The configured storage cannot be used at all (no such bucket, refused credentials,
    no endpoint there): the service does not start."""


@dataclass(frozen=True, slots=True)
class Download:
    """A stored file on its way out: its length, and its bytes a chunk at a time."""

    size: int
    chunks: AsyncIterator[bytes]


def check_key(key: str) -> str:
    """`key`, if it is one the service makes: relative, no `..`, not under a dot folder."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class Storage(Protocol):
    """Stores and reads files by key, such as `tenant/01J….pdf`."""

    def put(self, key: str, content: bytes, content_type: str) -> None:
        """Store the file whole under `key`, replacing any; `FilesUnavailable` if the storage
        cannot take it now."""
        ...

    def get(self, key: str) -> bytes:
        """The file's bytes; `FileNotFoundError` when there is none under `key`,
        `FilesUnavailable` when the storage cannot say now."""
        ...

    async def open(self, key: str) -> Download:
        """The file, to stream; the errors of `get`."""
        ...

    def link(self, key: str, valid_for: timedelta) -> str | None:
        """A URL that serves the file without credentials for `valid_for`, or None if this
        storage has none to give."""
        ...

    def check(self) -> None:
        """Raise `StorageUnusable` if the storage cannot be used at all."""
        ...


class LocalStorage:
    """Files under one directory; keys may not climb out of it. A file is written in
    `.incoming/` first, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._incoming = self.root / _INCOMING

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, content: bytes, content_type: str) -> None:
        """Write the file atomically: a temporary file, synced, then renamed into place. (The
        content type goes with the document's row; a file on disk has none.)"""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._incoming.mkdir(exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self._incoming)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        """The file's bytes."""
        return self._path(key).read_bytes()

    async def open(self, key: str) -> Download:
        """The file, read in a thread, sent in chunks."""
        content = await run_in_threadpool(self.get, key)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(content), CHUNK):
                yield content[start:start + CHUNK]

        return Download(len(content), chunks())

    def link(self, key: str, valid_for: timedelta) -> str | None:
        """None: a directory has no URLs to give."""
        return None

    def check(self) -> None:
        """The directory can be made and written in."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnusable(f"cannot make the directory {self.root}: "
                                  f"{exc.strerror or exc}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnusable(f"cannot write in the directory {self.root}")

    def files(self) -> Iterator[tuple[str, Path]]:
        """Every stored file's key and path, in key order (never what is being written)."""
        for folder, folders, names in os.walk(self.root):
            if Path(folder) == self.root:
                folders[:] = [name for name in folders if not name.startswith(".")]
            folders.sort()
            for name in sorted(names):
                path = Path(folder) / name
                key = path.relative_to(self.root).as_posix()
                if _KEY.match(key):
                    yield key, path

    def sweep(self, older_than: float = STALE_SECONDS) -> int:
        """Remove the files a writer killed mid-write left in `.incoming/` (those older
        than `older_than` seconds: no write takes that long); how many went."""
        swept = 0
        cutoff = time.time() - older_than
        try:
            entries = list(os.scandir(self._incoming))
        except OSError:  # none yet, or not ours to read: a sweep is a courtesy
            return 0
        for entry in entries:
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    swept += 1
            except OSError:
                pass  # another process swept it first, or it is not ours to remove
        return swept


def storage_for(url: str | None, home: Path) -> Storage:
    """The storage `url` names (`POLICYJOBS_DOCUMENTS_URL`): a bucket for `s3://…`, else a
    directory, by default the `documents` folder under the service's home, swept of what
    killed writers left there. Nothing is reached over the network here (`check` does)."""
    if url and is_bucket(url):
        from policyjobs.documents.buckets import BucketStorage  # only when one is used

        return BucketStorage(url)
    local = LocalStorage(Path(url).expanduser() if url else home / "documents")
    local.sweep()
    return local
