"""The documents job: render each of its documents that is not ready yet, within its deadline.

The deadline (`documents.timeoutSeconds`) is a budget of rendering time for one attempt:
it counts only while a renderer works on the job's documents, never while the job waits
in the queue or for a free renderer. A render that would overrun it is killed; the job
is then timed out: postponed until a retrigger, still running. A job whose worker died
is rescued by the engine and rendered again like any job; only when `RENDER_ATTEMPTS`
attempts in a row started rendering and never finished (their workers died or hung)
is it timed out the same way.

Each render claims its document with a fresh token, and the file is written only while
holding the document's row and that token, so whatever happens to an attempt, a document
becomes ready once and its file is written once. A storage that does not take the file
(a bucket unreachable) leaves the document unready and postpones the job a while: it is
neither failed nor timed out for it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

import sqlalchemy as sa
import structlog

from policyjobs.documents.models import documents, documents_jobs
from policyjobs.documents.render import CONTENT_TYPES, EXTENSIONS, RenderError
from policyjobs.documents.renderers import Renderers, RenderTimeout
from policyjobs.documents.states import DocumentState
from policyjobs.documents.storage import FilesUnavailable, Storage
from policyjobs.domain import Tell, untold
from policyjobs.engine import (
    ClaimedJob,
    JobContext,
    PermanentJobError,
    Postpone,
    metrics,
    new_locator,
)
from policyjobs.store.job_data import required_data

log = structlog.get_logger("policyjobs.documents")

STORAGE_WAIT = (10.0, 30.0)  # seconds a job waits when the storage did not take its file
RENDER_ATTEMPTS = 3  # attempts that may start rendering and never finish, before a timeout
OVERRAN = "timed out: rendering ran past the job's deadline of {} s; it waits for a retrigger"
OUT_OF_ATTEMPTS = (f"timed out: {RENDER_ATTEMPTS} attempts started rendering and never "
                   "finished (their workers died or hung); it waits for a retrigger")


@dataclass
class Attempt:
    """One attempt at a job: its rendering budget, and whether it has started rendering."""

    context: JobContext
    storage: Storage
    renderers: Renderers
    timeout: float
    tell: Tell
    spent: float = 0.0
    started: bool = False

    @property
    def locator(self) -> str:
        """The job's locator."""
        return self.context.job.locator

    def start(self) -> None:
        """Count this attempt among the job's rendering attempts, once."""
        if not self.started:
            self.started = True
            with self.context.db.begin() as conn:
                conn.execute(documents_jobs.update()
                             .where(documents_jobs.c.job_locator == self.locator)
                             .values(render_attempts=documents_jobs.c.render_attempts + 1))


def render_documents(context: JobContext, storage: Storage, renderers: Renderers,
                     tell: Tell = untold) -> dict[str, Any]:
    """Render every document of the job that is not ready; fail the job if any cannot be.
    Each document made ready, and the job timing out, is told through `tell`."""
    job = context.job
    with context.db.connect() as conn:
        data = required_data(conn.execute(
            sa.select(documents_jobs.c.timeout_seconds, documents_jobs.c.render_attempts)
            .where(documents_jobs.c.job_locator == job.locator)).first(),
            documents_jobs, job.locator)
        pending = conn.execute(
            sa.select(documents).where(documents.c.job_locator == job.locator,
                                       documents.c.state != DocumentState.READY)
            .order_by(documents.c.locator)
        ).all()
    if pending and data.render_attempts >= RENDER_ATTEMPTS:
        _time_out(context, tell, OUT_OF_ATTEMPTS)
    attempt = Attempt(context, storage, renderers, float(data.timeout_seconds), tell)
    failures = [problem for row in pending if (problem := _render_one(attempt, row)) is not None]
    if failures:
        raise PermanentJobError("; ".join(failures))
    return {"rendered": len(pending)}


def _render_one(attempt: Attempt, row: Any) -> str | None:
    """Render one document; the problem, if it failed, as `processingErrors` text."""
    context = attempt.context
    if attempt.spent >= attempt.timeout:
        _time_out(context, attempt.tell, OVERRAN.format(f"{attempt.timeout:g}"))
    token = new_locator()
    template_context = {
        **context.job.payload["context"],
        "reference": {"type": context.job.reference_type,
                      "locator": context.job.reference_locator},
        "tenant": {"locator": context.job.tenant},
        "document": {"staticName": row.static_name, "name": row.name},
    }
    if not _claim(context, row.locator, token, template_context):
        return None
    try:
        rendered = attempt.renderers.render(
            row.static_name, row.template, row.format, template_context,
            timeout=attempt.timeout - attempt.spent, priority=context.job.lane,
            on_start=attempt.start,
            on_data_ready=lambda: _advance(context, row.locator, token,
                                           state=DocumentState.DATA_READY))
    except RenderTimeout:
        _advance(context, row.locator, token, state=DocumentState.DRAFT)
        _time_out(context, attempt.tell, OVERRAN.format(f"{attempt.timeout:g}"))
    except RenderError as exc:
        _advance(context, row.locator, token, state=exc.failure, processing_errors=exc.message)
        log.warning("document failed", job=context.job.locator, document=row.locator,
                    state=exc.failure, error=exc.message)
        return f"document {row.static_name} ({row.locator}): {exc.failure}: {exc.message}"
    attempt.spent += rendered.seconds
    try:
        _store(context, attempt, row, token, rendered.content)
    except FilesUnavailable as exc:
        _storage_away(attempt, exc)
    return None


def _storage_away(attempt: Attempt, exc: FilesUnavailable) -> NoReturn:
    """The storage did not take a file: no document is made ready, and the job tries again
    in a while. The attempt finished rendering, so it does not count among those that
    never did (a storage down for an hour must not time the job out)."""
    context = attempt.context
    if attempt.started:
        with context.db.begin() as conn:
            conn.execute(documents_jobs.update()
                         .where(documents_jobs.c.job_locator == attempt.locator,
                                documents_jobs.c.render_attempts > 0)
                         .values(render_attempts=documents_jobs.c.render_attempts - 1))
    log.warning("document storage away; the job tries again", job=attempt.locator,
                error=exc.detail)
    raise Postpone(f"{exc.detail}; trying again",
                   until=context.clock.now() + timedelta(seconds=random.uniform(*STORAGE_WAIT)))


def _time_out(context: JobContext, tell: Tell, reason: str) -> NoReturn:
    """Mark the job timed out, telling of it once, and postpone it until a retrigger."""
    job = context.job
    with context.db.begin() as conn:
        if conn.execute(documents_jobs.update()
                        .where(documents_jobs.c.job_locator == job.locator,
                               documents_jobs.c.timed_out_at.is_(None))
                        .values(timed_out_at=context.clock.now())).rowcount:
            tell(conn, context.queue, job.tenant, "documents.job.timedOut", _job_data(job))
    metrics.TIMED_OUT.inc(context.job.kind)
    raise Postpone(reason)


def _claim(context: JobContext, locator: str, token: str, data: dict[str, Any]) -> bool:
    """Take the document for this render, recording the data its template sees (the
    document's `renderingData`); False if it is ready already."""
    with context.db.begin() as conn:
        return bool(conn.execute(
            documents.update()
            .where(documents.c.locator == locator, documents.c.state != DocumentState.READY)
            .values(render_token=token, state=DocumentState.DRAFT, processing_errors=None,
                    rendering_data=data)
        ).rowcount)


def _advance(context: JobContext, locator: str, token: str, **values: Any) -> None:
    with context.db.begin() as conn:
        conn.execute(documents.update()
                     .where(documents.c.locator == locator, documents.c.render_token == token)
                     .values(**values))


def _job_data(job: ClaimedJob) -> dict[str, str | None]:
    return {"jobLocator": job.locator, "referenceType": job.reference_type,
            "referenceLocator": job.reference_locator}


def _store(context: JobContext, attempt: Attempt, row: Any, token: str, content: bytes) -> None:
    """Write the file and mark the document ready, only while it is still ours to write,
    telling of it in the same transaction."""
    storage = attempt.storage
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
        storage.put(key, content, CONTENT_TYPES[row.format])
        conn.execute(documents.update().where(documents.c.locator == row.locator).values(
            state=DocumentState.READY, storage_key=key, content_type=CONTENT_TYPES[row.format],
            ready_at=context.clock.now(), processing_errors=None,
        ))
        attempt.tell(conn, context.queue, row.tenant, "documents.document.ready",
                     {"documentLocator": row.locator, **_job_data(context.job)})
    log.info("document stored", job=context.job.locator, document=row.locator, key=key,
             bytes=len(content))
