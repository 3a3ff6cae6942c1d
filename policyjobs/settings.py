"""Settings from the environment, all prefixed `POLICYJOBS_`."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from policyjobs.engine.queue import QueueSettings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    """`30d`, `12h`, `15m`, `90s`, `500ms` or a number of seconds, as a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 500ms, 90s, 15m, 12h or 30d")
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _UNITS[unit or "s"])


def _duration_or_value(value: object) -> object:
    return duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration_or_value)]

_DRIVERS = ("postgresql", "postgresql+psycopg", "sqlite", "sqlite+pysqlite")
_URL_FORMS = "use postgresql+psycopg://user:password@host/database or sqlite:///path"


def _store_url(text: str | None) -> str | None:
    """`text` if it is a URL of a store policyjobs opens, or None if empty; the error
    shows the URL with its password hidden, or not at all when it cannot be parsed."""
    if not text:
        return None
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError:
        raise ValueError(f"not a database URL; {_URL_FORMS}") from None
    except ValueError:  # SQLAlchemy makes the port an int as it parses
        raise ValueError(f"the port is not a number; {_URL_FORMS}") from None
    if url.drivername not in _DRIVERS:
        raise ValueError(f"unsupported database URL {url.render_as_string()}; {_URL_FORMS}")
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError(f"the port of {url.render_as_string()} is not one from 1 to 65535")
    return text


_BUCKET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_PREFIX = re.compile(r"^[0-9A-Za-z_.-]+(/[0-9A-Za-z_.-]+)*$")


def bucket_of(url: str) -> tuple[str, str]:
    """The bucket and the prefix of an `s3://bucket/prefix` URL; ValueError, saying what
    is wrong, for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ValueError("use a directory, or s3://bucket/prefix")
    if parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError("an s3:// URL names a bucket and a prefix, nothing else; the "
                         "endpoint and credentials come from the AWS_* variables")
    bucket = parts.netloc
    if not 3 <= len(bucket) <= 63 or not set(bucket) <= _BUCKET_CHARS \
            or not bucket[0].isalnum() or not bucket[-1].isalnum():
        raise ValueError(f"{bucket!r} is not a bucket name (3 to 63 lowercase letters, "
                         "digits, dots and hyphens)")
    prefix = parts.path.strip("/")
    if prefix and (not _PREFIX.match(prefix) or ".." in prefix.split("/")):
        raise ValueError(f"{prefix!r} is not a prefix of keys (letters, digits and _.- in "
                         "parts between slashes)")
    return bucket, prefix


def _documents_url(text: str | None) -> str | None:
    """`text` if it names a directory or a bucket documents can be kept in, None if empty;
    ValueError, saying what is wrong, if not (`POLICYJOBS_DOCUMENTS_URL`)."""
    if not text or not text.strip():
        return None
    if text.startswith("s3://"):
        bucket_of(text)
    elif "://" in text:
        raise ValueError(f"{text.split('://')[0]}:// is not a storage policyjobs keeps "
                         "documents in; use a directory, or s3://bucket/prefix")
    return text


def is_bucket(url: str | None) -> bool:
    """Whether a documents URL names a bucket rather than a directory."""
    return url is not None and url.startswith("s3://")


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class Settings(BaseSettings):
    """Where the store is, whether the test clock runs, and how workers behave."""

    model_config = SettingsConfigDict(env_prefix="POLICYJOBS_", extra="ignore")

    home: Path = Path(".policyjobs")
    database_url: Annotated[str | None, AfterValidator(_store_url)] = None
    test_clock: bool = False
    log_level: Annotated[LogLevel, BeforeValidator(_lower)] = "info"
    log_format: Literal["json", "console"] = "json"
    plugins: str = ""  # comma-separated modules, each with a `domain`, loaded beside the product's

    lease: Duration = timedelta(seconds=30)
    poll: Duration = timedelta(seconds=1)
    concurrency: int = Field(default=8, ge=1, le=256)
    batch_size: int = Field(default=100, ge=1, le=1000)
    upkeep: Duration = timedelta(seconds=1)
    prune_after: Duration | None = None
    shutdown_grace: Duration = timedelta(seconds=30)
    token_cache: Duration = timedelta(seconds=5)
    # Read by the documents domain (`RendererSettings`, one per core when unset); declared
    # here too so that a wrong value is refused with the other settings, at start.
    renderers: Annotated[int, Field(ge=1, le=256)] | None = None
    # Read by the webhooks domain: whether endpoints may be `http` URLs, and may resolve to
    # loopback, private or link-local addresses (both off: public `https` only).
    webhooks_allow_http: bool = False
    webhooks_allow_private: bool = False
    # Threads of each worker that make deliveries, apart from the handler threads.
    webhooks_threads: int = Field(default=16, ge=1, le=256)
    # Where rendered documents are kept: a directory (by default `<home>/documents`) or
    # `s3://bucket/prefix`, with the endpoint and credentials in the standard AWS_* variables;
    # and whether the API streams a file (`stream`) or redirects to a presigned URL of the
    # bucket for a few minutes (`presigned`, only for a bucket).
    documents_url: Annotated[str | None, AfterValidator(_documents_url)] = None
    documents_serve: Literal["stream", "presigned"] = "stream"
    # The key webhook secrets are sealed under, the same in every process; when unset, a
    # random one kept in `<home>/secret.key`, which suits one machine.
    secret_key: SecretStr | None = None

    @field_validator("documents_serve")
    @classmethod
    def _presigned_needs_a_bucket(cls, serve: str, info: ValidationInfo) -> str:
        if serve == "presigned" and not is_bucket(info.data.get("documents_url")):
            raise ValueError("presigned URLs need a bucket: POLICYJOBS_DOCUMENTS_URL=s3://…")
        return serve

    @property
    def url(self) -> str:
        """The store's SQLAlchemy URL: the configured one, or SQLite under `home`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'policyjobs.db').resolve()}"

    @property
    def plugin_modules(self) -> list[str]:
        """The modules named in `plugins`."""
        return [name.strip() for name in self.plugins.split(",") if name.strip()]

    def queue_settings(self) -> QueueSettings:
        """The engine's view of these settings."""
        return QueueSettings(
            lease=self.lease, poll=self.poll, concurrency=self.concurrency,
            batch_size=self.batch_size, upkeep=self.upkeep, prune_after=self.prune_after,
            shutdown_grace=self.shutdown_grace,
        )
