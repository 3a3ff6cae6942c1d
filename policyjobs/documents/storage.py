"""Where rendered files live: a small interface, with the local directory as the default.

An S3-compatible store fits the same two methods (`put` and `get`); the local one
writes each file atomically, so a reader never sees half a document.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[0-9A-Za-z_-][0-9A-Za-z_.-]*(/[0-9A-Za-z_.-]+)*$")  # not under `.…`
_INCOMING = ".incoming"  # files being written, beside the tree so that a rename moves them
STALE_SECONDS = 3600.0  # a file being written for this long was left by a killed writer


class Storage(Protocol):
    """Stores and reads files by key, such as `tenant/01J….pdf`."""

    def put(self, key: str, content: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The file's bytes, or `FileNotFoundError` when there is none under `key`."""
        ...


class LocalStorage:
    """Files under one directory; keys may not climb out of it. A file is written in
    `.incoming/` first, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._incoming = self.root / _INCOMING

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def put(self, key: str, content: bytes) -> None:
        """Write the file atomically: a temporary file, synced, then renamed into place."""
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


def storage_for(home: Path) -> Storage:
    """The configured storage: the `documents` folder under the service's home, without
    what killed writers left there."""
    storage = LocalStorage(home / "documents")
    storage.sweep()
    return storage
