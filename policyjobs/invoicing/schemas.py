"""The invoicing API's bodies: job data as `spec/jobs-api.txt` names it, invoices and early
invoicing as the vendor's OpenAPI does, made from rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, Field, StrictBool

from policyjobs.api.conventions import Number, Schema, Timestamp, set_present
from policyjobs.engine import PublicStatus, public_status
from policyjobs.engine.view import processing_errors
from policyjobs.invoicing.models import InvoiceState, InvoicingType
from policyjobs.invoicing.queries import AccountJobRecord, GenerationRecord, InvoiceRecord

Locator = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]


class InvoiceGenerationInstance(Schema):
    """One invoice of a generation run."""

    locator: str
    invoiceGenerationJobLocator: str
    invoiceLocator: str | None  # null when, by the time it ran, there was nothing to bill
    generateTime: Timestamp
    completedAt: Timestamp | None
    jobStatus: PublicStatus
    processingErrors: str | None
    createdAt: Timestamp
    createdBy: str


class InvoiceGenerationJob(Schema):
    """A run of a tenant's invoice generation schedule, with its instances."""

    locator: str
    invoiceGenerationScheduleLocator: str
    generateTime: Timestamp
    completedAt: Timestamp | None
    jobStatus: PublicStatus
    processingErrors: str | None
    createdAt: Timestamp
    createdBy: str
    invoiceGenerationInstances: list[InvoiceGenerationInstance]

    @classmethod
    def of(cls, record: GenerationRecord) -> Self:
        """A run's job row, its instances' rows and the invoices each made."""
        job = record.job
        generate = datetime.fromisoformat(job.payload["scheduledFor"])
        return cls(
            locator=job.locator, invoiceGenerationScheduleLocator=job.reference_locator,
            generateTime=generate, completedAt=job.finished_at,
            jobStatus=public_status(job.status), processingErrors=processing_errors(job.errors),
            createdAt=job.created_at, createdBy=job.created_by,
            invoiceGenerationInstances=[
                InvoiceGenerationInstance(
                    locator=instance.job.locator, invoiceGenerationJobLocator=job.locator,
                    invoiceLocator=instance.invoice_locator, generateTime=generate,
                    completedAt=instance.job.finished_at,
                    jobStatus=public_status(instance.job.status),
                    processingErrors=processing_errors(instance.job.errors),
                    createdAt=instance.job.created_at, createdBy=instance.job.created_by)
                for instance in record.instances])


class InvoiceGenerationJobList(Schema):
    """A page of generation runs."""

    listCompleted: bool
    items: list[InvoiceGenerationJob]


class ImmediateInvoicingData(Schema):
    """What an immediate invoicing was asked to bill."""

    invoicingType: Literal[InvoicingType.IMMEDIATE]
    accountLocator: str
    currencies: list[str]


class EarlyInvoicingGenerationData(Schema):
    """What an early invoicing was asked to bill."""

    invoicingType: Literal[InvoicingType.EARLY]
    accountLocator: str
    installmentsToBeInvoiced: list[str]
    timezone: str | None = None
    invoiceDueTime: Timestamp | None = None
    invoiceThroughTime: Timestamp | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Self:
        """The stored `invoicingData` of an early invoicing job."""
        view = cls(invoicingType=InvoicingType.EARLY, accountLocator=data["accountLocator"],
                   installmentsToBeInvoiced=data["installmentsToBeInvoiced"])
        set_present(view, timezone=data.get("timezone"),
                    invoiceDueTime=_when(data.get("invoiceDueTime")),
                    invoiceThroughTime=_when(data.get("invoiceThroughTime")))
        return view


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


InvoicingData = Annotated[EarlyInvoicingGenerationData | ImmediateInvoicingData,
                          Field(discriminator="invoicingType")]


class InvoicingJobData(Schema):
    """An account's immediate or early invoicing job."""

    locator: str
    accountLocator: str
    jobStatus: PublicStatus
    createdAt: Timestamp
    invoiceLocators: list[str]
    invoicingData: InvoicingData
    completedAt: Timestamp | None = None
    processingErrors: str | None = None

    @classmethod
    def of(cls, record: AccountJobRecord) -> Self:
        """An account job's rows."""
        job, data = record.job, record.data
        details: InvoicingData = (
            EarlyInvoicingGenerationData.of(data.invoicing_data)
            if data.invoicing_type == InvoicingType.EARLY
            else ImmediateInvoicingData(invoicingType=InvoicingType.IMMEDIATE,
                                        accountLocator=data.account_locator,
                                        currencies=data.invoicing_data["currencies"]))
        view = cls(locator=job.locator, accountLocator=data.account_locator,
                   jobStatus=public_status(job.status), createdAt=job.created_at,
                   invoiceLocators=list(record.invoice_locators), invoicingData=details)
        set_present(view, completedAt=job.finished_at,
                    processingErrors=processing_errors(job.errors))
        return view


class InvoicingJobDataList(Schema):
    """A page of an account's invoicing jobs."""

    listCompleted: bool
    items: list[InvoicingJobData]


class EarlyInvoicingJobData(Schema):
    """An early invoicing job."""

    locator: str
    earlyInvoicingGenerationData: EarlyInvoicingGenerationData
    jobStatus: PublicStatus
    createdAt: Timestamp
    invoiceLocators: list[str]
    completedAt: Timestamp | None = None
    processingErrors: str | None = None

    @classmethod
    def of(cls, record: AccountJobRecord) -> Self:
        """An early invoicing job's rows."""
        job = record.job
        view = cls(locator=job.locator,
                   earlyInvoicingGenerationData=EarlyInvoicingGenerationData.of(
                       record.data.invoicing_data),
                   jobStatus=public_status(job.status), createdAt=job.created_at,
                   invoiceLocators=list(record.invoice_locators))
        set_present(view, completedAt=job.finished_at,
                    processingErrors=processing_errors(job.errors))
        return view


class EarlyInvoicingJobDataList(Schema):
    """A page of an account's early invoicing jobs."""

    listCompleted: bool
    items: list[EarlyInvoicingJobData]


class EarlyInvoicingRequest(Schema):
    """Invoice named installments now, whatever their generate time."""

    installmentLocators: list[Locator] = Field(max_length=1000)
    ignoreHolds: StrictBool  # true or false, not "yes" or 1
    accountLocator: Locator | None = None
    invoiceThroughTime: AwareDatetime | None = None
    invoiceDueTime: AwareDatetime | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class EarlyInvoicingResponse(Schema):
    """The early invoicing job, and how many installments it may bill now."""

    jobLocator: str
    candidateInstallmentsCount: int


class InvoiceItemResponse(Schema):
    """One item of an invoice: one installment item it bills."""

    locator: str
    invoiceLocator: str
    timezone: str
    amount: Number
    chargeCategory: str
    chargeType: str
    installmentItemLocators: list[str]
    transactionLocators: list[str]
    remainingAmount: Number | None = None
    settlementTime: Timestamp | None = None
    quoteLocator: str | None = None
    policyLocator: str | None = None
    elementStaticLocator: str | None = None


class InvoiceSummaryView(Schema):
    """An invoice in a list: its totals and settlement, without its items."""

    locator: str
    accountLocator: str
    startTime: Timestamp
    endTime: Timestamp
    dueTime: Timestamp
    currency: str
    timezone: str
    invoiceState: InvoiceState
    generatedTime: Timestamp
    invoiceType: Literal["normal"]
    totalAmount: Number | None = None
    totalRemainingAmount: Number | None = None
    settledTime: Timestamp | None = None

    @classmethod
    def of(cls, row: Any) -> Self:
        """An invoice row."""
        view = cls(**_invoice_fields(row))
        set_present(view, totalAmount=row.total, totalRemainingAmount=_remaining(row),
                    settledTime=row.settled_time)
        return view


class InvoiceResponse(InvoiceSummaryView):
    """An invoice with its items."""

    invoiceItems: list[InvoiceItemResponse] | None = None

    @classmethod
    def of_record(cls, record: InvoiceRecord) -> Self:
        """An invoice row with its items, each showing what payments left of it."""
        row = record.invoice
        view = cls.of(row)
        view.invoiceItems = _items(row, record.items)
        return view


class AccountCredit(Schema):
    """What an account is owed back in one currency, which its next invoices use."""

    accountLocator: str
    currency: str
    amount: Number


class InvoiceListResponse(Schema):
    """A page of an account's invoices."""

    listCompleted: bool
    items: list[InvoiceSummaryView]


def _invoice_fields(row: Any) -> dict[str, Any]:
    return {"locator": row.locator, "accountLocator": row.account_locator,
            "startTime": row.start_time, "endTime": row.end_time, "dueTime": row.due_time,
            "currency": row.currency, "timezone": row.timezone, "invoiceState": row.state,
            "generatedTime": row.generated_time, "invoiceType": "normal"}


def _remaining(row: Any) -> Decimal:
    remaining: Decimal = max(row.total - row.paid, Decimal(0))
    return remaining


def _items(invoice: Any, items: Sequence[Any]) -> list[InvoiceItemResponse]:
    """Items in order, the invoice's payments and credits (its negative items) settling the
    others first to last; a credit owes nothing."""
    unspent = invoice.paid - sum((item.amount for item in items if item.amount < 0),
                                 Decimal(0))
    shown = []
    for item in items:
        applied = min(max(unspent, Decimal(0)), max(item.amount, Decimal(0)))
        unspent -= applied
        remaining = max(item.amount, Decimal(0)) - applied
        view = InvoiceItemResponse(
            locator=item.locator, invoiceLocator=item.invoice_locator,
            timezone=invoice.timezone, amount=item.amount, chargeCategory=item.charge_type,
            chargeType=item.charge_type, installmentItemLocators=[item.installment_item_locator],
            transactionLocators=[item.transaction_locator] if item.transaction_locator else [],
            remainingAmount=remaining)
        set_present(view, settlementTime=invoice.settled_time if remaining == 0 else None,
                    quoteLocator=item.quote_locator, policyLocator=item.policy_locator,
                    elementStaticLocator=item.element_locator)
        shown.append(view)
    return shown
