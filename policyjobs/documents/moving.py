"""Moving a local document storage into a bucket (`policyjobs documents copy --to s3://…`).

Every file of the directory goes to the same key in the bucket, with the content type its
extension says. A file the bucket holds already (the same length and MD5) is skipped, so a
copy can be run again after an interruption, or after more documents were rendered, and
only what is missing or different goes up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from policyjobs.documents.buckets import BucketStorage
from policyjobs.documents.render import CONTENT_TYPES, EXTENSIONS
from policyjobs.documents.storage import LocalStorage

_TYPES = {extension: CONTENT_TYPES[kind] for kind, extension in EXTENSIONS.items()}
OTHER = "application/octet-stream"


@dataclass
class Copied:
    """What a copy did: files put, files the bucket had already, and bytes put."""

    copied: int = 0
    skipped: int = 0
    bytes: int = 0


def content_type(key: str) -> str:
    """The content type of a stored file, by its extension."""
    return _TYPES.get(key.rsplit(".", 1)[-1], OTHER) if "." in key else OTHER


def copy_files(source: LocalStorage, target: BucketStorage,
               advance: Callable[[int], None] = lambda _: None) -> Copied:
    """Copy every file of `source` to the same key in `target`, but those it holds already;
    `advance` is told each file's size as it is done (copied or skipped)."""
    done = Copied()
    for key, path in source.files():
        try:
            content = path.read_bytes()
        except FileNotFoundError:  # removed since it was listed
            continue
        if target.has(key, content):
            done.skipped += 1
        else:
            target.put(key, content, content_type(key))
            done.copied += 1
            done.bytes += len(content)
        advance(len(content))
    return done
