"""The documents domain, wired: its job kind, reactions to events, routes, configuration
section and permissions, and the renderer processes it stops when the runtime closes."""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from policyjobs.documents import service
from policyjobs.documents.config import DocumentsSection
from policyjobs.documents.endpoints import documents_router
from policyjobs.documents.handler import render_documents
from policyjobs.documents.models import KIND
from policyjobs.documents.renderers import Renderers
from policyjobs.documents.storage import Storage
from policyjobs.domain import Domain, EventType, Link, Tell, untold
from policyjobs.engine import JobContext, JobKind, Lane
from policyjobs.intake.events import QuoteEvent, TransactionEvent


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class RendererSettings(BaseSettings):
    """How many documents a worker process renders at once: `POLICYJOBS_RENDERERS`. (Read
    here, not in `renderers`, which a renderer process imports: it needs no settings.)"""

    model_config = SettingsConfigDict(env_prefix="POLICYJOBS_", extra="ignore")

    renderers: int = Field(default_factory=_cores, ge=1, le=256)


def documents_domain(storage: Storage, tell: Tell = untold, *,
                     presigned: bool = False) -> Domain:
    """The documents domain, storing files in `storage`, rendering with as many renderers
    as `POLICYJOBS_RENDERERS` says (one per core by default), telling of each document
    ready and each job timed out through `tell`; its API serves a file itself, or, if
    `presigned`, redirects to a presigned URL of the storage."""
    renderers = Renderers(RendererSettings().renderers)

    def handle(context: JobContext) -> Any:
        return render_documents(context, storage, renderers, tell)

    return Domain(
        name="documents",
        # The handler counts the attempts that start rendering (RENDER_ATTEMPTS); the
        # engine's limit is higher, for attempts claimed by a worker that died before them.
        # Someone waits on a quote's or a policy's documents; an invoice's are batch work.
        # An operator's retry is a retrigger: of failed and of timed-out jobs.
        kinds=[JobKind(KIND, handle, lane=Lane.INTERACTIVE, max_attempts=10,
                       retry=service.retry_jobs)],
        events=[EventType("quote", QuoteEvent, service.on_quote),
                EventType("transaction", TransactionEvent, service.on_transaction)],
        routers=[documents_router(storage, presigned=presigned)],
        links=[*(Link(scope, "documents",
                      f"/document/{{tenant}}/documents/{scope}/{{locator}}/jobs/list")
                 for scope in ("quote", "transaction", "segment")),
               Link("invoice", "documents",
                    "/document/{tenant}/documents/invoices/{locator}/jobs")],
        config=DocumentsSection,
        permissions=["documents.read", "documents.trigger"],
        close=renderers.close,
    )
