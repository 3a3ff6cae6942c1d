"""The documents API's bodies, exactly as `spec/jobs-api.txt` names them."""

from __future__ import annotations

from typing import Any, Literal

from policyjobs.api.conventions import Schema, Timestamp

ReferenceType = Literal["quote", "policy", "invoice", "transaction", "segment", "term"]
Status = Literal["running", "finished", "failed"]
Trigger = Literal["validated", "priced", "accepted", "issued", "underwritten", "generated"]


class DocumentJobInfo(Schema):
    """One document of a documents job, and how far it got."""

    locator: str
    staticName: str
    name: str
    documentInstanceState: str
    processingErrors: str | None
    state: str  # deprecated: the same as documentInstanceState


class DocumentsJob(Schema):
    """A documents job with its documents and children."""

    locator: str
    referenceLocator: str
    completedAt: Timestamp | None
    documentTrigger: Trigger
    processingErrors: str | None
    referenceType: ReferenceType
    status: Status
    createdAt: Timestamp
    createdBy: str
    childrenJobs: list[str]
    documents: list[DocumentJobInfo]


class DocumentsJobSummary(Schema):
    """A documents job in a list."""

    locator: str
    referenceType: ReferenceType
    status: Status
    createdAt: Timestamp


class DocumentsJobList(Schema):
    """A page of documents jobs."""

    listCompleted: bool
    items: list[DocumentsJobSummary]


class DocumentInstance(Schema):
    """A document's metadata, after the vendor's `DocumentInstanceResponse`."""

    locator: str
    referenceLocator: str
    referenceType: ReferenceType
    documentInstanceState: str
    documentFormat: Literal["pdf", "html", "text"]
    external: bool
    createdAt: Timestamp
    consolidatedFrom: list[str]
    consolidatedTo: list[str]
    metadata: dict[str, Any]
    renderingData: dict[str, Any] | None
    name: str | None = None
    staticName: str | None = None
    createdBy: str | None = None
    readyAt: Timestamp | None = None
    processingErrors: str | None = None
    transactionLocator: str | None = None
    segmentLocator: str | None = None
    policyLocator: str | None = None
    termLocator: str | None = None
