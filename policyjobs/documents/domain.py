"""The documents domain, wired: its job kind, timeout duty, reactions to events, routes,
configuration section and permissions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from policyjobs.documents import service
from policyjobs.documents.config import DocumentsSection
from policyjobs.documents.endpoints import documents_router
from policyjobs.documents.handler import render_documents
from policyjobs.documents.models import KIND
from policyjobs.documents.storage import storage_for
from policyjobs.domain import Domain, EventType
from policyjobs.engine import Duty, JobContext, JobKind
from policyjobs.intake.events import QuoteEvent, TransactionEvent


def documents_domain(home: Path) -> Domain:
    """The documents domain, storing files under `home`."""
    storage = storage_for(home)

    def handle(context: JobContext) -> Any:
        return render_documents(context, storage)

    return Domain(
        name="documents",
        kinds=[JobKind(KIND, handle, max_attempts=3)],
        duties=[Duty("documents.timeouts", service.mark_timeouts,
                     timedelta(seconds=1))],
        events=[EventType("quote", QuoteEvent, service.on_quote),
                EventType("transaction", TransactionEvent, service.on_transaction)],
        routers=[documents_router(storage)],
        config=DocumentsSection,
        permissions=["documents.read", "documents.trigger"],
    )
