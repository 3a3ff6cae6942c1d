"""Settings from the environment, all prefixed `POLICYJOBS_`."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr
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
    # The key webhook secrets are sealed under, the same in every process; when unset, a
    # random one kept in `<home>/secret.key`, which suits one machine.
    secret_key: SecretStr | None = None

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
