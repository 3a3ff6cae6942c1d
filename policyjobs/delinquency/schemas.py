"""The delinquency API's bodies: job data as `spec/jobs-api.txt` names it, delinquencies and
their events as the vendor's OpenAPI does, made from rows."""

from __future__ import annotations

from typing import Any, Literal, Self

from policyjobs.api.conventions import Schema, Timestamp, set_present
from policyjobs.delinquency.config import OffsetBasis
from policyjobs.delinquency.models import CancellationType, DelinquencyState, EventState
from policyjobs.engine import JobStatus, PublicStatus, public_status
from policyjobs.engine.view import processing_errors
from policyjobs.store.job_data import JobRecord


class GraceJobData(Schema):
    """A delinquency's grace job: at grace end, it lapses or finds the delinquency settled."""

    locator: str
    delinquencyLocator: str
    jobStatus: PublicStatus
    updatedAt: Timestamp
    createdAt: Timestamp
    outcome: str | None = None
    processingErrors: str | None = None

    @classmethod
    def of(cls, record: JobRecord) -> Self:
        """A grace job's rows."""
        job, data = record.job, record.data
        view = cls(locator=job.locator, delinquencyLocator=data.delinquency_locator,
                   jobStatus=public_status(job.status), updatedAt=data.updated_at,
                   createdAt=job.created_at)
        set_present(view, outcome=data.outcome, processingErrors=processing_errors(job.errors))
        return view


class GraceJobDataList(Schema):
    """A page of grace jobs."""

    listCompleted: bool
    items: list[GraceJobData]


class DelinquencyCreateJobData(Schema):
    """The job that checks an invoice at its due time."""

    locator: str
    invoiceLocator: str
    dueTime: Timestamp
    jobStatus: PublicStatus
    updatedAt: Timestamp
    createdAt: Timestamp
    delinquencyLocators: list[str]
    processingErrors: str | None = None

    @classmethod
    def of(cls, record: JobRecord) -> Self:
        """A create job's rows."""
        job, data = record.job, record.data
        view = cls(locator=job.locator, invoiceLocator=data.invoice_locator,
                   dueTime=data.due_time, jobStatus=public_status(job.status),
                   updatedAt=data.updated_at, createdAt=job.created_at,
                   delinquencyLocators=list(data.delinquency_locators or []))
        set_present(view, processingErrors=processing_errors(job.errors))
        return view


class DelinquencyCreateJobDataList(Schema):
    """A page of create jobs."""

    listCompleted: bool
    items: list[DelinquencyCreateJobData]


class DelinquencyEventJobData(Schema):
    """The job of one delinquency event, fired or cancelled."""

    locator: str
    delinquencyEventLocator: str
    delinquencyLocator: str
    jobStatus: PublicStatus
    triggerTime: Timestamp
    updatedAt: Timestamp
    createdAt: Timestamp
    updatedDelinquencyEventLocators: list[str]
    rescheduledByLocator: str | None = None
    cancellationType: CancellationType | None = None
    cancelled: bool | None = None
    processingErrors: str | None = None

    @classmethod
    def of(cls, record: JobRecord) -> Self:
        """An event job's rows."""
        job, data = record.job, record.data
        view = cls(locator=job.locator, delinquencyEventLocator=data.event_locator,
                   delinquencyLocator=data.delinquency_locator,
                   jobStatus=public_status(job.status), triggerTime=data.trigger_time,
                   updatedAt=data.updated_at, createdAt=job.created_at,
                   updatedDelinquencyEventLocators=list(data.updated_event_locators or []))
        set_present(view, rescheduledByLocator=data.rescheduled_by_locator,
                    cancellationType=CancellationType(data.cancellation_type)
                    if data.cancellation_type else None,
                    cancelled=True if job.status == JobStatus.CANCELLED else None,
                    processingErrors=processing_errors(job.errors))
        return view


class DelinquencyEventJobDataList(Schema):
    """A page of event jobs."""

    listCompleted: bool
    items: list[DelinquencyEventJobData]


class DelinquencySettings(Schema):
    """The settings a delinquency was opened with."""

    advanceLapseTo: Literal["issued"]
    gracePeriodDays: int
    lapseTransactionType: str
    delinquencyLevel: Literal["invoice"] | None = None


class ConfiguredDelinquencyEvent(Schema):
    """An event the tenant's configuration gave the delinquency."""

    name: str
    offsetBasis: OffsetBasis
    offsetDays: float


class DelinquencyReference(Schema):
    """What a delinquency is about: its invoice."""

    locator: str
    delinquencyLocator: str
    referenceLocator: str
    referenceType: Literal["invoice"]


class DelinquencyResponse(Schema):
    """A delinquency, its settings, grace period and configured events."""

    locator: str
    accountLocator: str
    timezone: str
    delinquencyState: DelinquencyState
    settings: DelinquencySettings
    updatedAt: Timestamp
    createdAt: Timestamp
    configuredDelinquencyEvents: list[ConfiguredDelinquencyEvent]
    references: list[DelinquencyReference] | None = None
    graceStartedAt: Timestamp | None = None
    graceEndAt: Timestamp | None = None

    @classmethod
    def of(cls, row: Any) -> Self:
        """A delinquency row."""
        view = cls(
            locator=row.locator, accountLocator=row.account_locator, timezone=row.timezone,
            delinquencyState=row.state, settings=DelinquencySettings(**row.settings),
            updatedAt=row.updated_at, createdAt=row.created_at,
            configuredDelinquencyEvents=[ConfiguredDelinquencyEvent(**e)
                                         for e in row.configured_events])
        set_present(view, graceStartedAt=row.grace_start, graceEndAt=row.grace_end,
                    references=[DelinquencyReference(
                        locator=row.locator, delinquencyLocator=row.locator,
                        referenceLocator=row.invoice_locator, referenceType="invoice")])
        return view


class DelinquencyListResponse(Schema):
    """A page of delinquencies."""

    listCompleted: bool
    items: list[DelinquencyResponse]


class DelinquencyEventResponse(Schema):
    """One event of a delinquency."""

    locator: str
    delinquencyLocator: str
    name: str
    delinquencyEventState: EventState
    triggerTime: Timestamp
    updatedAt: Timestamp
    updatedBy: str
    createdAt: Timestamp
    createdBy: str
    triggeredAt: Timestamp | None = None

    @classmethod
    def of(cls, row: Any) -> Self:
        """An event row."""
        view = cls(locator=row.locator, delinquencyLocator=row.delinquency_locator,
                   name=row.name, delinquencyEventState=row.state,
                   triggerTime=row.trigger_time, updatedAt=row.updated_at,
                   updatedBy=row.updated_by, createdAt=row.created_at,
                   createdBy=row.created_by)
        set_present(view, triggeredAt=row.triggered_at)
        return view


class DelinquencyEventsResponse(Schema):
    """A page of a delinquency's events."""

    accountLocator: str
    delinquencyLocator: str
    listCompleted: bool
    items: list[DelinquencyEventResponse]
