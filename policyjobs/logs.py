"""Structured logs: JSON lines on stderr, from structlog and the standard library alike."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from policyjobs.engine.worker import job_fields

_SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    job_fields,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "info", fmt: str = "json",
                      stream: TextIO | None = None) -> None:
    """Send every log line, ours and our libraries', to `stream` (stderr) as JSON, or for a
    console."""
    stream = stream or sys.stderr
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json"
        # A plain traceback: a rich one shows local variables, which may hold a token or
        # an event's data.
        else structlog.dev.ConsoleRenderer(colors=stream.isatty(),
                                           exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        # A line below the level is dropped before any processor runs: the API logs every
        # request at info, and an operator who sets warning should not pay for those lines.
        processors=[structlog.stdlib.filter_by_level, *_SHARED,
                    structlog.processors.format_exc_info,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=_SHARED,
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
