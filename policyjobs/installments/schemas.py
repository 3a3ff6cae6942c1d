"""The installments API's bodies: job data as `spec/jobs-api.txt` says, artifacts as the vendor's.

Durations (`installmentDuration`, `coverageDuration`) count days. Events carry one
classification of a charge, its `chargeType`, so an item's `chargeCategory` repeats
it; and the element a charge belongs to is its segment (or its quote), which is
both its `elementLocator` and its `elementStaticLocator`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Self

from policyjobs.api.conventions import Number, Schema, Timestamp, days, set_present
from policyjobs.engine import PublicStatus, public_status
from policyjobs.engine.view import processing_errors
from policyjobs.installments.models import JobType
from policyjobs.installments.queries import InstallmentRecord
from policyjobs.store.job_data import JobRecord

ReferenceType = Literal["quote", "transaction"]


class InstallmentJobData(Schema):
    """An installments job: what it did to which lattice, and how it went."""

    locator: str
    latticeLocator: str | None
    referenceLocator: str
    completedAt: Timestamp | None
    installmentLocators: str | None  # comma-separated, once the job has done its work
    jobStatus: PublicStatus
    jobType: JobType
    processingErrors: str | None
    referenceType: ReferenceType
    createdAt: Timestamp

    @classmethod
    def of(cls, record: JobRecord) -> Self:
        """An installments job from its rows."""
        job, data = record.job, record.data
        return cls(
            locator=job.locator, latticeLocator=data.lattice_locator,
            referenceLocator=job.reference_locator, completedAt=job.finished_at,
            installmentLocators=data.installment_locators if data.done_at else None,
            jobStatus=public_status(job.status), jobType=data.job_type,
            processingErrors=processing_errors(job.errors), referenceType=job.reference_type,
            createdAt=job.created_at)


class InstallmentJobDataList(Schema):
    """A page of installments jobs."""

    listCompleted: bool
    items: list[InstallmentJobData]


class InstallmentItem(Schema):
    """One charge's share of one installment."""

    locator: str
    installmentLocator: str
    chargeLocator: str
    elementLocator: str
    elementStaticLocator: str
    chargeType: str
    chargeCategory: str
    amount: Number
    createdAt: Timestamp
    createdBy: str
    invoiceItemLocator: str | None = None
    reversalOfInstallmentItemLocator: str | None = None

    @classmethod
    def of(cls, row: Any) -> Self:
        """An item row."""
        view = cls(
            locator=row.locator, installmentLocator=row.installment_locator,
            chargeLocator=row.charge_locator, elementLocator=row.element_locator,
            elementStaticLocator=row.element_locator, chargeType=row.charge_type,
            chargeCategory=row.charge_type, amount=row.amount, createdAt=row.created_at,
            createdBy=row.created_by)
        set_present(view, invoiceItemLocator=row.invoice_item_locator,
                    reversalOfInstallmentItemLocator=row.reversal_of_item_locator)
        return view


class Installment(Schema):
    """The installment of one lattice frame, with an item per charge it bills."""

    locator: str
    installmentLatticeLocator: str
    accountLocator: str
    currency: str
    timezone: str
    installmentFrameIndex: int
    installmentStartTime: Timestamp
    installmentEndTime: Timestamp
    coverageStartTime: Timestamp
    coverageEndTime: Timestamp
    installmentDuration: float
    coverageDuration: float
    generateTime: Timestamp
    dueTime: Timestamp
    createdAt: Timestamp
    createdBy: str
    updatedAt: Timestamp
    updatedBy: str
    installmentItems: list[InstallmentItem]
    quoteLocator: str | None = None
    policyLocator: str | None = None
    transactionLocator: str | None = None
    termLocator: str | None = None
    invoiceLocator: str | None = None
    reversalOfInstallmentLocator: str | None = None

    @classmethod
    def of(cls, record: InstallmentRecord) -> Self:
        """An installment row with its item rows."""
        row = record.installment
        view = cls(
            locator=row.locator, installmentLatticeLocator=row.lattice_locator,
            accountLocator=row.account_locator, currency=row.currency, timezone=row.timezone,
            installmentFrameIndex=row.frame_index, installmentStartTime=row.installment_start,
            installmentEndTime=row.installment_end, coverageStartTime=row.coverage_start,
            coverageEndTime=row.coverage_end,
            installmentDuration=days(row.installment_end - row.installment_start),
            coverageDuration=days(row.coverage_end - row.coverage_start),
            generateTime=row.generate_time, dueTime=row.due_time, createdAt=row.created_at,
            createdBy=row.created_by, updatedAt=row.updated_at, updatedBy=row.updated_by,
            installmentItems=[InstallmentItem.of(item) for item in record.items])
        set_present(view, quoteLocator=row.quote_locator, policyLocator=row.policy_locator,
                    transactionLocator=row.transaction_locator, termLocator=row.term_locator,
                    invoiceLocator=row.invoice_locator,
                    reversalOfInstallmentLocator=row.reversal_of_locator)
        return view


class InstallmentList(Schema):
    """A page of installments."""

    listCompleted: bool
    items: list[Installment]


class InstallmentLatticeFrame(Schema):
    """One frame of a lattice; autopay, which policyjobs does not run, is at the due time."""

    installmentStartTime: Timestamp
    installmentEndTime: Timestamp
    coverageStartTime: Timestamp
    coverageEndTime: Timestamp
    installmentDuration: float
    normalizedWeight: Number
    coverageDuration: float
    generateTime: Timestamp
    dueTime: Timestamp
    autopayTime: Timestamp

    @classmethod
    def of(cls, frame: dict[str, str]) -> Self:
        """A frame as a lattice row keeps it."""
        start, end = datetime.fromisoformat(frame["start"]), datetime.fromisoformat(frame["end"])
        due = datetime.fromisoformat(frame["due"])
        return cls(
            installmentStartTime=start, installmentEndTime=end, coverageStartTime=start,
            coverageEndTime=end, installmentDuration=days(end - start),
            normalizedWeight=Decimal(frame["weight"]), coverageDuration=days(end - start),
            generateTime=datetime.fromisoformat(frame["generate"]), dueTime=due,
            autopayTime=due)


class InstallmentLattice(Schema):
    """A term cut into frames; a reversal lattice holds the frames an unbill reversed."""

    locator: str
    accountLocator: str
    effectiveTime: Timestamp
    currency: str
    timezone: str
    reversalLattice: bool
    termStartTime: Timestamp
    termEndTime: Timestamp
    createdAt: Timestamp
    createdBy: str
    frames: list[InstallmentLatticeFrame]
    termLocator: str | None = None
    quoteLocator: str | None = None
    policyLocator: str | None = None
    basedOnLocator: str | None = None

    @classmethod
    def of(cls, row: Any) -> Self:
        """A lattice row with its frames."""
        view = cls(
            locator=row.locator, accountLocator=row.account_locator,
            effectiveTime=row.effective_time, currency=row.currency, timezone=row.timezone,
            reversalLattice=row.reversal, termStartTime=row.term_start, termEndTime=row.term_end,
            createdAt=row.created_at, createdBy=row.created_by,
            frames=[InstallmentLatticeFrame.of(frame) for frame in row.frames])
        set_present(view, termLocator=row.term_locator, quoteLocator=row.quote_locator,
                    policyLocator=row.policy_locator, basedOnLocator=row.based_on_locator)
        return view
