"""The installments API's bodies: job data as `spec/jobs-api.txt` says, artifacts as the vendor's.

Durations (`installmentDuration`, `coverageDuration`) count days. Events carry one
classification of a charge, its `chargeType`, so an item's `chargeCategory` repeats
it; and the element a charge belongs to is its segment (or its quote), which is
both its `elementLocator` and its `elementStaticLocator`.
"""

from __future__ import annotations

from typing import Literal

from policyjobs.api.conventions import Number, Schema, Timestamp


class InstallmentJobData(Schema):
    """An installments job: what it did to which lattice, and how it went."""

    locator: str
    latticeLocator: str | None
    referenceLocator: str
    completedAt: Timestamp | None
    installmentLocators: str | None  # comma-separated, once the job has done its work
    jobStatus: Literal["running", "finished", "failed"]
    jobType: Literal["createOrUpdate", "invalidate", "unbill"]
    processingErrors: str | None
    referenceType: Literal["quote", "transaction"]
    createdAt: Timestamp


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
