"""Documents in an S3-compatible bucket, through obstore.

`POLICYJOBS_DOCUMENTS_URL=s3://bucket/prefix`; the endpoint, region and credentials come
from the standard variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, or the instance's role), and `AWS_ALLOW_HTTP=true` allows an
`http://` endpoint.

obstore (one interface over S3, GCS, Azure, local and in-memory stores, its client in Rust)
does the signing, retries and streaming. Each file goes up in one PUT, never a multipart
upload: S3 makes an object visible only once the PUT is complete, so a writer killed
midway leaves nothing behind, not even the hidden parts of an unfinished upload to sweep.
A document's files are far below the 5 GB a PUT may carry.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from policyjobs.documents.storage import (
    CHUNK,
    Download,
    FilesUnavailable,
    StorageUnusable,
    check_key,
)
from policyjobs.settings import bucket_of

# A request that gets no answer is given up on within seconds: a render tries again later
# (its job postponed) and a download answers 503, rather than either waiting minutes.
CONNECT_TIMEOUT, TIMEOUT = timedelta(seconds=5), timedelta(seconds=60)
RETRIES, RETRY_TIMEOUT = 2, timedelta(seconds=10)


def _allow_http() -> bool:
    return os.environ.get("AWS_ALLOW_HTTP", "").strip().lower() in ("1", "true", "yes")


def _reason(exc: BaseException) -> str:
    """The first line of obstore's message (the rest is its debug dump)."""
    return str(exc).split("\n", 1)[0][:500]


class BucketStorage:
    """Files as objects under a prefix of one bucket."""

    def __init__(self, url: str) -> None:
        bucket, prefix = bucket_of(url)
        self._url = url
        try:
            self._store = self._open(bucket, prefix)
        except (BaseError, ValueError) as exc:  # a setting obstore cannot use
            raise StorageUnusable(f"{url}: {_reason(exc)}") from None

    @staticmethod
    def _open(bucket: str, prefix: str) -> S3Store:
        return S3Store(
            bucket, prefix=prefix or None,
            client_options={"connect_timeout": CONNECT_TIMEOUT, "timeout": TIMEOUT,
                            "allow_http": _allow_http()},
            retry_config={"max_retries": RETRIES, "retry_timeout": RETRY_TIMEOUT,
                          "backoff": {"init_backoff": timedelta(milliseconds=100),
                                      "max_backoff": timedelta(seconds=2), "base": 2}})

    def put(self, key: str, content: bytes, content_type: str) -> None:
        """One PUT of the whole file, with its content type (its length goes with it)."""
        try:
            obstore.put(self._store, check_key(key), content, use_multipart=False,
                        attributes={"Content-Type": content_type})
        except (BaseError, OSError) as exc:
            raise FilesUnavailable(f"the document storage did not take {key}: "
                                   f"{_reason(exc)}") from None

    def get(self, key: str) -> bytes:
        """The object's bytes."""
        try:
            return bytes(obstore.get(self._store, check_key(key)).bytes())
        except FileNotFoundError:
            raise
        except (BaseError, OSError) as exc:
            raise FilesUnavailable(f"the document storage did not give {key}: "
                                   f"{_reason(exc)}") from None

    async def open(self, key: str) -> Download:
        """The object, streamed as the bucket sends it."""
        try:
            found = await obstore.get_async(self._store, check_key(key))
        except FileNotFoundError:
            raise
        except (BaseError, OSError) as exc:
            raise FilesUnavailable(f"the document storage did not give {key}: "
                                   f"{_reason(exc)}") from None

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in found.stream(min_chunk_size=CHUNK):
                yield bytes(chunk)

        return Download(int(found.meta["size"]), chunks())

    def link(self, key: str, valid_for: timedelta) -> str | None:
        """A presigned GET of the object, good for `valid_for`."""
        try:
            return obstore.sign(self._store, "GET", check_key(key), valid_for)
        except (BaseError, OSError) as exc:
            raise FilesUnavailable(f"the document storage could not sign {key}: "
                                   f"{_reason(exc)}") from None

    def check(self) -> None:
        """List one key of the bucket: it exists, and the credentials are taken."""
        try:
            next(iter(obstore.list(self._store, ".policyjobs-check", chunk_size=1)), None)
        except (BaseError, OSError) as exc:
            raise StorageUnusable(f"{self._url}: {_why(exc)}") from None

    def has(self, key: str, content: bytes) -> bool:
        """Whether the object under `key` holds `content` already: the same length, and the
        MD5 that S3 gives as the ETag of an object put in one piece. (Where the ETag is not
        an MD5, such as under KMS encryption, this says no and the file is copied again.)"""
        try:
            meta = obstore.head(self._store, check_key(key))
        except FileNotFoundError:
            return False
        except (BaseError, OSError) as exc:
            raise FilesUnavailable(f"the document storage did not say whether it has "
                                   f"{key}: {_reason(exc)}") from None
        etag = (meta["e_tag"] or "").strip('"')
        return int(meta["size"]) == len(content) and \
            etag == hashlib.md5(content, usedforsecurity=False).hexdigest()


def _why(exc: BaseException) -> str:
    """Why a bucket cannot be used, in words, from what its endpoint answered."""
    text = str(exc)
    if "169.254.169.254" in text or "169.254.170.2" in text:
        return ("no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, "
                f"and the instance's metadata service gave none ({_reason(exc)})")
    if "NoSuchBucket" in text:
        return "the bucket does not exist"
    for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                 "ExpiredToken", "InvalidToken", "403 Forbidden"):
        if code in text:
            return f"the credentials were refused ({code})"
    if "builder error" in text and not _allow_http():
        return "the endpoint is http:// and AWS_ALLOW_HTTP is not true"
    return f"cannot reach it: {_reason(exc)}"
