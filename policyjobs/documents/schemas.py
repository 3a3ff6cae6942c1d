"""The documents API's bodies, exactly as `spec/jobs-api.txt` names them, made from rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from policyjobs.api.conventions import Schema, Timestamp, set_present
from policyjobs.documents.config import DocumentFormat, DocumentScope
from policyjobs.documents.states import DocumentState
from policyjobs.engine import PublicStatus, public_status
from policyjobs.intake.events import Trigger


class DocumentJobInfo(Schema):
    """One document of a documents job, and how far it got."""

    locator: str
    staticName: str
    name: str
    documentInstanceState: DocumentState
    processingErrors: str | None
    state: DocumentState  # deprecated: the same as documentInstanceState

    @classmethod
    def of(cls, row: Any) -> Self:
        """A document row, as its job lists it."""
        return cls(locator=row.locator, staticName=row.static_name, name=row.name,
                   documentInstanceState=row.state, processingErrors=row.processing_errors,
                   state=row.state)


class DocumentsJob(Schema):
    """A documents job with its documents and children."""

    locator: str
    referenceLocator: str
    completedAt: Timestamp | None
    documentTrigger: Trigger
    processingErrors: str | None
    referenceType: DocumentScope
    status: PublicStatus
    createdAt: Timestamp
    createdBy: str
    childrenJobs: list[str]
    documents: list[DocumentJobInfo]
    # The vendor's, beside the spec's: the transaction (and segment) a job renders for, or
    # null for a quote's or an invoice's; no job here consolidates documents.
    transactionLocator: str | None
    segmentLocator: str | None
    isConsolidation: bool

    @classmethod
    def of(cls, row: Any, documents: Sequence[Any], processing_errors: str | None) -> Self:
        """A job row (with its trigger and comma-separated children) and its document rows."""
        transaction = (row.reference_locator if row.reference_type == "transaction" else
                       next((d.transaction_locator for d in documents
                             if d.transaction_locator), None))
        return cls(
            transactionLocator=transaction,
            segmentLocator=row.reference_locator if row.reference_type == "segment" else None,
            isConsolidation=False,
            locator=row.locator, referenceLocator=row.reference_locator,
            completedAt=row.finished_at, documentTrigger=row.trigger,
            processingErrors=processing_errors, referenceType=row.reference_type,
            status=public_status(row.status), createdAt=row.created_at,
            createdBy=row.created_by,
            childrenJobs=sorted(row.children.split(",")) if row.children else [],
            documents=[DocumentJobInfo.of(document) for document in documents],
        )


class DocumentsJobSummary(Schema):
    """A documents job in a list."""

    locator: str
    referenceType: DocumentScope
    status: PublicStatus
    createdAt: Timestamp

    @classmethod
    def of(cls, row: Any) -> Self:
        """A job row, as a list shows it."""
        return cls(locator=row.locator, referenceType=row.reference_type,
                   status=public_status(row.status), createdAt=row.created_at)


class DocumentsJobList(Schema):
    """A page of documents jobs."""

    listCompleted: bool
    items: list[DocumentsJobSummary]


class DocumentInstance(Schema):
    """A document's metadata, after the vendor's `DocumentInstanceResponse`."""

    locator: str
    referenceLocator: str
    referenceType: DocumentScope
    documentInstanceState: DocumentState
    documentFormat: DocumentFormat
    external: bool
    createdAt: Timestamp
    consolidatedFrom: list[str]
    consolidatedTo: list[str]
    metadata: dict[str, Any]
    renderingData: dict[str, Any]  # what its template saw; {} before a render
    name: str | None = None
    staticName: str | None = None
    createdBy: str | None = None
    readyAt: Timestamp | None = None
    processingErrors: str | None = None
    transactionLocator: str | None = None
    segmentLocator: str | None = None
    policyLocator: str | None = None
    termLocator: str | None = None

    @classmethod
    def of(cls, row: Any) -> Self:
        """A document row, as the vendor's `DocumentInstanceResponse`."""
        view = cls(
            locator=row.locator, referenceLocator=row.reference_locator,
            referenceType=row.reference_type, documentInstanceState=row.state,
            documentFormat=row.format, external=False, createdAt=row.created_at,
            consolidatedFrom=[], consolidatedTo=[], metadata={},
            renderingData=row.rendering_data or {}, name=row.name, staticName=row.static_name,
            createdBy=row.created_by,
        )
        set_present(view, readyAt=row.ready_at, processingErrors=row.processing_errors,
                    transactionLocator=row.transaction_locator,
                    segmentLocator=row.segment_locator, policyLocator=row.policy_locator,
                    termLocator=row.term_locator)
        return view
