"""The documents job: render each of its documents that is not ready yet, by its deadline.

Renders run in child processes (`isolation.py`) that are killed when the job's
deadline comes; the job is then postponed until a retrigger, still running and
marked timed out. A job that comes back after its worker died, past its
deadline, is postponed the same way without rendering.

Each render also claims its document with a fresh token, and writes the file
only while holding the document's row and that token, so whatever happens to
an attempt, no file is written twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

import sqlalchemy as sa
import structlog

from policyjobs.documents.isolation import RenderTimeout, render_isolated
from policyjobs.documents.models import documents, documents_jobs
from policyjobs.documents.render import CONTENT_TYPES, EXTENSIONS, RenderError
from policyjobs.documents.states import DocumentState
from policyjobs.documents.storage import Storage
from policyjobs.engine import JobContext, PermanentJobError, Postpone, new_locator
from policyjobs.engine.clock import wall_now

log = structlog.get_logger("policyjobs.documents")
TIMED_OUT = "timed out: rendering ran past the job's deadline; it waits for a retrigger"


def render_documents(context: JobContext, storage: Storage) -> dict[str, Any]:
    """Render every document of the job that is not ready; fail the job if any cannot be."""
    job = context.job
    with context.db.connect() as conn:
        deadline = conn.execute(sa.select(documents_jobs.c.deadline_at)
                                .where(documents_jobs.c.job_locator == job.locator)).scalar_one()
        pending = conn.execute(
            sa.select(documents).where(documents.c.job_locator == job.locator,
                                       documents.c.state != DocumentState.READY)
            .order_by(documents.c.locator)
        ).all()
    failures = [problem for row in pending
                if (problem := _render_one(context, storage, row, deadline)) is not None]
    with context.db.begin() as conn:
        conn.execute(documents_jobs.update().where(documents_jobs.c.job_locator == job.locator)
                     .values(handled_at=context.clock.now()))
    if failures:
        raise PermanentJobError("; ".join(failures))
    return {"rendered": len(pending) - len(failures)}


def _render_one(context: JobContext, storage: Storage, row: Any,
                deadline: datetime) -> str | None:
    """Render one document; the problem, if it failed, as `processingErrors` text."""
    remaining = (deadline - wall_now()).total_seconds()
    if remaining <= 0:
        _time_out(context)
    token = new_locator()
    if not _claim(context, row.locator, token):
        return None
    template_context = {
        **context.job.payload["context"],
        "reference": {"type": context.job.reference_type,
                      "locator": context.job.reference_locator},
        "tenant": {"locator": context.job.tenant},
        "document": {"staticName": row.static_name, "name": row.name},
    }
    try:
        content = render_isolated(
            row.static_name, row.template, row.format, template_context, timeout=remaining,
            on_data_ready=lambda: _advance(context, row.locator, token,
                                           state=DocumentState.DATA_READY))
    except RenderTimeout:
        _advance(context, row.locator, token, state=DocumentState.DRAFT)
        _time_out(context)
    except RenderError as exc:
        _advance(context, row.locator, token, state=exc.failure, processing_errors=exc.message)
        log.warning("document failed", job=context.job.locator, document=row.locator,
                    state=exc.failure, error=exc.message)
        return f"document {row.static_name} ({row.locator}): {exc.failure}: {exc.message}"
    _store(context, storage, row, token, content)
    return None


def _time_out(context: JobContext) -> NoReturn:
    """Mark the job timed out and postpone it until a retrigger."""
    with context.db.begin() as conn:
        conn.execute(documents_jobs.update()
                     .where(documents_jobs.c.job_locator == context.job.locator,
                            documents_jobs.c.timed_out_at.is_(None))
                     .values(timed_out_at=context.clock.now()))
    raise Postpone(TIMED_OUT)


def _claim(context: JobContext, locator: str, token: str) -> bool:
    with context.db.begin() as conn:
        return bool(conn.execute(
            documents.update()
            .where(documents.c.locator == locator, documents.c.state != DocumentState.READY)
            .values(render_token=token, state=DocumentState.DRAFT, processing_errors=None)
        ).rowcount)


def _advance(context: JobContext, locator: str, token: str, **values: Any) -> None:
    with context.db.begin() as conn:
        conn.execute(documents.update()
                     .where(documents.c.locator == locator, documents.c.render_token == token)
                     .values(**values))


def _store(context: JobContext, storage: Storage, row: Any, token: str, content: bytes) -> None:
    """Write the file and mark the document ready, only while it is still ours to write."""
    key = f"{row.tenant}/{row.locator}.{EXTENSIONS[row.format]}"
    with context.db.begin() as conn:
        mine = conn.execute(
            sa.select(documents.c.locator)
            .where(documents.c.locator == row.locator, documents.c.render_token == token,
                   documents.c.state != DocumentState.READY)
            .with_for_update()
        ).first()
        if mine is None:
            log.info("render superseded by a retrigger; discarded", document=row.locator)
            return
        storage.put(key, content)
        conn.execute(documents.update().where(documents.c.locator == row.locator).values(
            state=DocumentState.READY, storage_key=key, content_type=CONTENT_TYPES[row.format],
            ready_at=context.clock.now(), processing_errors=None,
        ))

