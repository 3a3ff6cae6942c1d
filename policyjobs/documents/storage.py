"""Where rendered files live: a small interface, with the local directory as the default.

An S3-compatible store fits the same two methods (`put` and `get`); the local one
writes each file atomically, so a reader never sees half a document.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[0-9A-Za-z_.-]+(/[0-9A-Za-z_.-]+)*$")


class Storage(Protocol):
    """Stores and reads files by key, such as `tenant/01J….pdf`."""

    def put(self, key: str, content: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...


class LocalStorage:
    """Files under one directory; keys may not climb out of it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def put(self, key: str, content: bytes) -> None:
        """Write the file atomically: a temporary file, synced, then renamed into place."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
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


def storage_for(home: Path) -> Storage:
    """The configured storage: the `documents` folder under the service's home."""
    return LocalStorage(home / "documents")
