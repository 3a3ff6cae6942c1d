"""The documents job: render each of its documents that is not ready yet.

Each render claims its document with a fresh token first, and writes the file
only while holding the document's row and that token. A retrigger hands out
new tokens, so a render left behind by a hung or dead worker can never write a
file, and no document is rendered to storage twice.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog

from policyjobs.documents.models import documents, documents_jobs
from policyjobs.documents.render import (
    CONTENT_TYPES,
    EXTENSIONS,
    RenderError,
    html_to_pdf,
    render_markup,
)
from policyjobs.documents.storage import Storage
from policyjobs.engine import JobContext, PermanentJobError, new_locator

log = structlog.get_logger("policyjobs.documents")


def render_documents(context: JobContext, storage: Storage) -> dict[str, Any]:
    """Render every document of the job that is not ready; fail the job if any cannot be."""
    job = context.job
    with context.db.connect() as conn:
        pending = conn.execute(
            sa.select(documents).where(documents.c.job_locator == job.locator,
                                       documents.c.state != "ready")
            .order_by(documents.c.locator)
        ).all()
    failures = [problem for row in pending
                if (problem := _render_one(context, storage, row)) is not None]
    with context.db.begin() as conn:
        conn.execute(documents_jobs.update().where(documents_jobs.c.job_locator == job.locator)
                     .values(handled_at=context.clock.now()))
    if failures:
        raise PermanentJobError("; ".join(failures))
    return {"rendered": len(pending) - len(failures)}


def _render_one(context: JobContext, storage: Storage, row: Any) -> str | None:
    """Render one document; the problem, if it failed, as `processingErrors` text."""
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
        markup = render_markup(row.static_name, row.template, template_context,
                               escape=row.format != "text")
        _advance(context, row.locator, token, state="dataReady")
        content = html_to_pdf(row.static_name, markup) if row.format == "pdf" \
            else markup.encode("utf-8")
    except RenderError as exc:
        _advance(context, row.locator, token, state=exc.failure, processing_errors=exc.message)
        log.warning("document failed", job=context.job.locator, document=row.locator,
                    state=str(exc.failure), error=exc.message)
        return f"document {row.static_name} ({row.locator}): {exc.failure}: {exc.message}"
    _store(context, storage, row, token, content)
    return None


def _claim(context: JobContext, locator: str, token: str) -> bool:
    with context.db.begin() as conn:
        return bool(conn.execute(
            documents.update()
            .where(documents.c.locator == locator, documents.c.state != "ready")
            .values(render_token=token, state="draft", processing_errors=None)
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
                   documents.c.state != "ready")
            .with_for_update()
        ).first()
        if mine is None:
            log.info("render superseded by a retrigger; discarded", document=row.locator)
            return
        storage.put(key, content)
        conn.execute(documents.update().where(documents.c.locator == row.locator).values(
            state="ready", storage_key=key, content_type=CONTENT_TYPES[row.format],
            ready_at=context.clock.now(), processing_errors=None,
        ))

